"""How the project's commands end and talk: exit codes, one-line errors, the parser, quiet library start-up."""
