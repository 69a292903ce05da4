"""How the backend answers a compiled pipeline's resolver and importer tasks, which run no container.

TFX compiles a resolver (the Evaluator's ``latest_blessed_model_resolver``, tuning mode
``reuse``'s ``latest_hyperparameters_resolver``) into queries over the metadata store, e.g.
``schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1``, and an
importer into an artifact URI with its type. Vertex AI answers both from its ML Metadata; the
preflight answers them from its own KFP-layout store (cloud/preflight/kfp_store.py): the newest matching
artifact of this pipeline, or nothing (a first run has no blessed model). Filters are read from
the spec, clause by clause, and a clause this module does not know fails the preflight by name.
"""

import re

from cloud.preflight.kfp_store import KfpStore

# {{$.inputs.artifacts['input'].metadata['current_model_id']}}: a value of an input artifact's metadata.
INPUT_METADATA = re.compile(r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}")
TITLE = re.compile(r'schema_title="([^"]+)"')
NUMBER = re.compile(r"metadata\.(\w+)\.number_value=(-?[0-9.eE+-]+)")
NAME = re.compile(r'name="(.*)"')


class UnsupportedSpec(RuntimeError):
    """The compiled spec asks for something the preflight cannot stand in for; the message says what."""


def parse_filter(text: str) -> dict:
    """``{"title", "live", "predicates", "name"}`` of a resolver query filter (clauses joined by AND)."""
    query = {"title": "", "live": False, "predicates": {}, "name": ""}
    for clause in text.split(" AND "):
        clause = clause.strip()
        if match := TITLE.fullmatch(clause):
            query["title"] = match.group(1)
        elif clause == "state=LIVE":
            query["live"] = True
        elif match := NUMBER.fullmatch(clause):
            query["predicates"][match.group(1)] = float(match.group(2))
        elif match := NAME.fullmatch(clause):
            query["name"] = match.group(1)
        else:
            raise UnsupportedSpec(f"resolver filter clause {clause!r} (in {text!r})")
    if not query["title"]:
        raise UnsupportedSpec(f"resolver filter without schema_title: {text!r}")
    return query


def _fill(template: str, inputs: dict):
    """``template`` with its input-metadata placeholders filled from ``inputs``; None when an input is empty."""
    values = []
    for key, field in INPUT_METADATA.findall(template):
        artifacts = inputs.get(key, [])
        if not artifacts:
            return None
        values.append(str(artifacts[0]["metadata"].get(field, "")))
    filled = iter(values)
    return INPUT_METADATA.sub(lambda _: next(filled), template)


def resolve(store: KfpStore, resolver: dict, inputs: dict) -> dict:
    """``{output key: [the newest matching artifact] or []}`` for a resolver executor's ``outputArtifactQueries``."""
    outputs = {}
    for key, query_spec in resolver["outputArtifactQueries"].items():
        query = parse_filter(query_spec["filter"])
        name = _fill(query["name"], inputs) if query["name"] else ""
        if name is None:
            outputs[key] = []  # the query names an input that resolved to nothing: nothing matches
            continue
        outputs[key] = store.find(query["title"], query["live"], query["predicates"], name=name)[:1]
    return outputs


def schema_title(type_schema: dict) -> str:
    """The title of an artifact type schema (``schemaTitle``, or the ``title:`` line of ``instanceSchema``)."""
    if "schemaTitle" in type_schema:
        return type_schema["schemaTitle"]
    for line in type_schema.get("instanceSchema", "").splitlines():
        if line.startswith("title:"):
            return line.split(":", 1)[1].strip()
    raise UnsupportedSpec(f"artifact type without a title: {type_schema}")


def output_types(component: dict) -> dict:
    """The schema title of each output artifact a component declares, by output key."""
    declared = component.get("outputDefinitions", {}).get("artifacts", {})
    return {key: schema_title(definition["artifactType"]) for key, definition in declared.items()}


def import_artifact(store: KfpStore, importer: dict, parameter_values: dict) -> dict:
    """The runtime artifact an importer executor yields: an existing one of that URI and type, unless ``reimport``."""
    source = importer["artifactUri"]
    if "runtimeParameter" in source:
        uri = parameter_values[source["runtimeParameter"]]
    else:
        uri = source["constant"]["stringValue"] if isinstance(source["constant"], dict) else source["constant"]
    metadata = importer.get("metadata", {})
    if not importer.get("reimport"):
        for found in store.find(schema_title(importer["typeSchema"]), True, metadata):
            if found["uri"] == uri:
                return found
    return {"uri": uri, "metadata": metadata}
