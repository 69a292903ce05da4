#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter that actually runs (TFX 1.16 needs <3.11).
# Order: $PYTHON, a python3.10 on PATH, pyenv's versions folder, common install prefixes.
set -u
works() { [ -n "$1" ] && "$1" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; }
candidates=("${PYTHON:-}" "$(command -v python3.10 2>/dev/null)")
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
candidates+=($(ls -d "$root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r))
candidates+=(/usr/local/bin/python3.10 /usr/bin/python3.10 /opt/homebrew/bin/python3.10)
for py in "${candidates[@]}"; do
  if works "$py"; then echo "$py"; exit 0; fi
done
echo "error: no working Python 3.10 found (TFX 1.16 needs Python 3.10)." >&2
echo "Install one (for example 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv')," >&2
echo "or point PYTHON at it: make PYTHON=/path/to/python3.10 ..." >&2
exit 1
