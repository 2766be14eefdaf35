#!/usr/bin/env bash
# validate_deploy.sh — offline checks of the deployment files: docker/, k8s/,
# .dockerignore. Needs no Docker engine and no cluster.
#
#   scripts/validate_deploy.sh            # from anywhere in the repo
#   VALIDATE_STRICT=1 scripts/validate_deploy.sh   # a missing optional tool fails too
#
# Checks, in order:
#   1. structure (Python + PyYAML): every YAML file parses; Dockerfile (multi-stage
#      python:3.11-slim, wheel build, non-root numeric USER, EXPOSE 8007,
#      HEALTHCHECK on /health, CMD sav serve), .dockerignore (sources in, secrets
#      and tests out), pyproject.toml (console script `sav`), compose (services,
#      ports, healthchecks, depends_on conditions, network, no literal secrets,
#      every ${VAR} documented in docker/.env.example and every documented value
#      used, pinned images, databases on 127.0.0.1 only, the sav-migrate one-shot),
#      requirements.lock (installed by the Dockerfile with hashes), k8s (apiVersion/kind/name,
#      no namespace, replicas, resources, probes, securityContext, one image,
#      ConfigMap/Secret/Service/PDB wiring, Secret template holds only CHANGE_ME,
#      kustomization lists every manifest but the Secret template, images by
#      version, the sav-db-migrate Job and the pods' wait-for-schema init
#      container), k8s/monitoring (alert rules and Grafana dashboard parse);
#   2. `docker compose config -q` (or `docker-compose config -q`) with
#      docker/.env.example as env file;
#   3. kubernetes-validate --strict (bundled OpenAPI schemas, offline) on every
#      manifest and on the kustomize output;
#   4. `kubectl kustomize k8s` (offline render).
# Steps 2–4 are skipped with a notice when their tool is missing (a failure under
# VALIDATE_STRICT=1). Exit status: 0 when every step that ran passed, 1 otherwise.
#
# Optional tools: `pip install kubernetes-validate` (PyPI), `apt-get install
# docker-compose` or the Docker compose plugin, kubectl.

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

if [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    PY="$VIRTUAL_ENV/bin/python"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="$(command -v python3 || command -v python)"
fi
K8S_VERSION="${K8S_VERSION:-1.29.0}"
STRICT="${VALIDATE_STRICT:-0}"

failed=()
skipped=()
passed=()

run_step() {  # run_step NAME CMD...
    local name="$1"; shift
    echo "==> $name"
    if "$@"; then
        passed+=("$name")
        echo "    ok: $name"
    else
        failed+=("$name")
        echo "    FAILED: $name" >&2
    fi
}

skip_step() {  # skip_step NAME REASON
    echo "==> $1"
    echo "    skipped: $2"
    skipped+=("$1 ($2)")
    if [[ "$STRICT" == "1" ]]; then
        failed+=("$1 (skipped under VALIDATE_STRICT=1)")
    fi
}

# --------------------------------------------------------------------------- 1
structure_checks() {
"$PY" - "$ROOT" <<'PYEOF'
import fnmatch
import os
import re
import sys

try:
    import yaml
except ImportError:
    print("    PyYAML is not installed for this interpreter", file=sys.stderr)
    sys.exit(1)

root = sys.argv[1]
errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def path(*parts):
    return os.path.join(root, *parts)


# ---------------------------------------------------------------- YAML parsing
yaml_docs = {}
for folder in ("docker", "k8s"):
    d = path(folder)
    if not os.path.isdir(d):
        err(folder, "directory missing")
        continue
    for name in sorted(os.listdir(d)):
        if name.endswith((".yml", ".yaml")):
            rel = f"{folder}/{name}"
            try:
                with open(path(rel), encoding="utf-8") as fh:
                    yaml_docs[rel] = [doc for doc in yaml.safe_load_all(fh) if doc is not None]
            except yaml.YAMLError as exc:
                err(rel, f"YAML does not parse: {exc}")

REQUIRED_ENV = [
    "APP_NAME", "APP_ENV", "APP_PORT", "DB_CONNECTION", "DB_HOST", "DB_PORT",
    "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY",
    "MINIO_SECRET_KEY", "MINIO_BUCKET", "MINIO_REGION", "RABBITMQ_HOST", "RABBITMQ_PORT",
    "RABBITMQ_USER", "RABBITMQ_PASSWORD", "RABBITMQ_VHOST", "RABBITMQ_EXCHANGE",
    "RABBITMQ_QUEUE", "AUTH_SERVICE_URL", "AUTH_MODE", "AUTH_JWT_SECRET",
    "TICKET_NUMBER_PREFIX", "AUTO_CLOSE_RESOLVED_DAYS", "ESCALATION_TIMEOUT_HOURS",
    "MAX_ATTACHMENT_SIZE_MB", "SAV_DATA_DIR", "SAV_INPROCESS_WORKERS",
    "MINIO_PUBLIC_ENDPOINT", "AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE", "SAV_MASTER_KEY",
]
SECRET_ENV = {"DB_USERNAME", "DB_PASSWORD", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY",
              "RABBITMQ_USER", "RABBITMQ_PASSWORD", "AUTH_JWT_SECRET", "SAV_MASTER_KEY"}
# Compose reads this one itself; every other documented value must reach a service.
COMPOSE_OWN = {"COMPOSE_PROJECT_NAME"}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|ACCESS_KEY|_PASS$|TOKEN)")
IMAGE_REPO = "sav-service"


def image_repo(image):
    # "registry/x/sav-service:tag@sha" -> "sav-service"
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


# ------------------------------------------------------------------ Dockerfile
def dockerfile_instructions(text):
    lines, buf = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        lines.append(buf)
        buf = ""
    if buf:
        lines.append(buf)
    out = []
    for line in lines:
        parts = line.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
    return out


def check_dockerfile():
    where = "docker/Dockerfile"
    try:
        text = open(path(where), encoding="utf-8").read()
    except FileNotFoundError:
        err(where, "missing")
        return
    ins = dockerfile_instructions(text)
    args = {}
    for op, rest in ins:
        if op == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args.setdefault(k.strip(), v.strip().strip('"'))

    def subst(s):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)

    stages = []  # list of (base, name, [instructions])
    for op, rest in ins:
        if op == "FROM":
            toks = [t for t in rest.split() if not t.startswith("--")]
            base = subst(toks[0])
            name = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None
            stages.append((base, name, []))
        elif stages:
            stages[-1][2].append((op, rest))
    if len(stages) < 2:
        err(where, "must be multi-stage (builder + runtime)")
        return
    for base, name, _ in stages:
        if not re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base):
            err(where, f"stage {name or '?'} base image {base!r} is not python:3.11-slim")
    builder = [s for s in stages[:-1] if any(op == "RUN" and "pip wheel" in r for op, r in s[2])]
    if not builder:
        err(where, "no builder stage runs `pip wheel`")
    elif not any(op == "RUN" and "--require-hashes" in r and "requirements.lock" in r
                 for op, r in builder[0][2]):
        err(where, "the builder must install the dependencies from requirements.lock "
                   "with --require-hashes (reproducible builds)")
    if not os.path.exists(path("requirements.lock")):
        err("requirements.lock", "missing (uv pip compile pyproject.toml ... -o requirements.lock)")
    final = stages[-1][2]
    if not any(op == "RUN" and "pip install" in r and "/wheels" in r for op, r in final):
        err(where, "runtime stage must pip install the wheels built in the builder stage")
    users = [subst(r).split(":")[0].strip() for op, r in final if op == "USER"]
    if not users:
        err(where, "runtime stage sets no USER (runs as root)")
    elif users[-1] in ("root", "0"):
        err(where, "runtime stage runs as root")
    elif not users[-1].isdigit():
        err(where, f"USER {users[-1]!r} should be numeric so Kubernetes can verify runAsNonRoot")
    elif users[-1] != "10001":
        err(where, f"USER {users[-1]} differs from runAsUser 10001 in k8s/")
    if not any(op == "EXPOSE" and "8007" in r.split() for op, r in final):
        err(where, "runtime stage must EXPOSE 8007")
    hc = [r for op, r in final if op == "HEALTHCHECK"]
    if not hc or "/health" not in hc[-1] or "urllib" not in hc[-1]:
        err(where, "HEALTHCHECK must GET /health with python urllib")
    if hc and "curl" in hc[-1]:
        err(where, "HEALTHCHECK uses curl, which python:3.11-slim does not ship")
    cmds = [r for op, r in final if op == "CMD"]
    want = ["sav", "serve", "--host", "0.0.0.0", "--port", "8007"]
    if not cmds:
        err(where, "no CMD")
    else:
        import json
        try:
            cmd = json.loads(cmds[-1])
        except ValueError:
            cmd = cmds[-1].split()
        if cmd != want:
            err(where, f"CMD is {cmd}, expected {want}")
    # COPY sources of the build context must exist (context = repo root).
    for _, _, body in stages:
        for op, rest in body:
            if op not in ("COPY", "ADD") or "--from=" in rest:
                continue
            toks = [t for t in rest.split() if not t.startswith("--")]
            for src in toks[:-1]:
                if src != "." and not os.path.exists(path(src)):
                    err(where, f"COPY source {src!r} is not in the build context")


# ---------------------------------------------------------------- .dockerignore
def dockerignore_rules():
    try:
        lines = open(path(".dockerignore"), encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        err(".dockerignore", "missing")
        return None
    rules = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        pat = s[1:] if neg else s
        rules.append((neg, pat.strip("/")))
    return rules


def ignored(rules, rel):
    """Docker semantics, simplified: last matching rule wins; a rule matching a
    parent directory matches its contents; ** matches any number of segments."""
    parts = rel.split("/")
    result = False
    for neg, pat in rules:
        rx = re.escape(pat).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        matched = any(re.fullmatch(rx, "/".join(parts[:i])) for i in range(1, len(parts) + 1))
        if matched:
            result = not neg
    return result


def check_dockerignore():
    rules = dockerignore_rules()
    if rules is None:
        return
    where = ".dockerignore"
    for rel in ("pyproject.toml", "requirements.lock", "sav/__init__.py", "sav/api/app.py",
                "sav/migrations/env.py", "sav/migrations/script.py.mako"):
        if ignored(rules, rel):
            err(where, f"{rel} would be left out of the build context")
    for rel in (".git/config", ".env", "docker/.env", "tests/test_x.py", "var/sav.db",
                "sav/__pycache__/x.cpython-311.pyc", "k8s/secret.yaml", ".venv/bin/python"):
        if not ignored(rules, rel):
            err(where, f"{rel} would be sent in the build context")


# ---------------------------------------------------------------- pyproject.toml
def check_pyproject():
    where = "pyproject.toml"
    if not os.path.exists(path(where)):
        err(where, "missing: the image cannot be built (pip wheel needs it)")
        return
    import tomllib
    try:
        data = tomllib.load(open(path(where), "rb"))
    except tomllib.TOMLDecodeError as exc:
        err(where, f"does not parse: {exc}")
        return
    project = data.get("project", {})
    if "sav" not in project.get("scripts", {}):
        err(where, "[project.scripts] has no `sav` console script (CMD runs `sav`)")
    readme = project.get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    if isinstance(readme, str):
        rules = dockerignore_rules() or []
        if ignored(rules, readme):
            err(".dockerignore", f"excludes {readme}, which pyproject.toml names as readme")
        elif not os.path.exists(path(readme)):
            err(where, f"readme {readme!r} does not exist: the wheel build would fail")


# ---------------------------------------------------------------- compose
def env_example():
    where = "docker/.env.example"
    values = {}
    try:
        for n, line in enumerate(open(path(where), encoding="utf-8"), 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if "=" not in s:
                err(where, f"line {n} is not KEY=VALUE")
                continue
            k, v = s.split("=", 1)
            values[k.strip()] = v.strip()
    except FileNotFoundError:
        err(where, "missing")
    for k, v in values.items():
        if (k in SECRET_ENV or SECRET_NAME.search(k)) and k not in ("DB_USERNAME", "RABBITMQ_USER") \
                and "CHANGE_ME" not in v:
            err(where, f"{k} must hold a CHANGE_ME placeholder, not a value")
    for k in REQUIRED_ENV:
        if k not in values and k not in ("SAV_DATA_DIR", "SAV_INPROCESS_WORKERS"):
            err(where, f"does not document {k}")
    return values


def defaults(s):
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(s))


def port_pair(p):
    bits = defaults(str(p).split("/")[0]).rsplit(":", 1)
    host = bits[0] if len(bits) == 2 else ""
    return host.rsplit(":", 1)[-1], bits[-1]


def published_ip(p):
    bits = defaults(str(p).split("/")[0]).split(":")
    return bits[0] if len(bits) == 3 else "0.0.0.0"


def check_compose():
    where = "docker/docker-compose.yml"
    docs = yaml_docs.get(where)
    if not docs:
        err(where, "missing or empty")
        return None
    c = docs[0]
    raw = "\n".join(line for line in open(path(where), encoding="utf-8").read().splitlines()
                    if not line.lstrip().startswith("#"))
    envs = env_example()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", raw))
    for var in sorted(used):
        if var not in envs:
            err(where, f"${{{var}}} is not documented in docker/.env.example")
    for var in sorted(set(envs) - used - COMPOSE_OWN):
        err(where, f"docker/.env.example documents {var}, which compose ignores "
                   f"(use ${{{var}:-default}} instead of a literal)")
    services = c.get("services") or {}
    for name in ("sav-migrate", "sav-service", "sav-worker", "sav-mysql", "rabbitmq", "minio"):
        if name not in services:
            err(where, f"service {name} missing")
    if set(("sav-service", "sav-worker")) - set(services):
        return None
    api, worker = services["sav-service"], services["sav-worker"]
    for sname, s in (("sav-service", api), ("sav-worker", worker)):
        b = s.get("build") or {}
        if b.get("context") != ".." or b.get("dockerfile") != "docker/Dockerfile":
            err(where, f"{sname}: build must be context .. with dockerfile docker/Dockerfile")
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
        for k in REQUIRED_ENV:
            if k not in env:
                err(where, f"{sname}: environment lacks {k}")
        if str(env.get("SAV_INPROCESS_WORKERS")).lower() != "false":
            err(where, f"{sname}: SAV_INPROCESS_WORKERS must be false (workers run in sav-worker)")
        deps = s.get("depends_on") or {}
        for dep in ("sav-mysql", "rabbitmq", "minio"):
            if not isinstance(deps, dict) or (deps.get(dep) or {}).get("condition") != "service_healthy":
                err(where, f"{sname}: depends_on {dep} must use condition: service_healthy")
        if not isinstance(deps, dict) or (deps.get("sav-migrate") or {}).get("condition") \
                != "service_completed_successfully":
            err(where, f"{sname}: must wait for sav-migrate (service_completed_successfully)")
    migrate = services.get("sav-migrate") or {}
    mcmd_ = migrate.get("command") or []
    if (mcmd_.split() if isinstance(mcmd_, str) else mcmd_) != ["sav", "db", "upgrade"]:
        err(where, "sav-migrate command must be `sav db upgrade`")
    if migrate.get("image") != api.get("image"):
        err(where, "sav-migrate must run the API's image")
    if api.get("image") != worker.get("image") or image_repo(str(api.get("image"))) != IMAGE_REPO:
        err(where, f"sav-service and sav-worker must share the image {IMAGE_REPO}:<tag>")
    tag = defaults(str(api.get("image"))).rsplit(":", 1)[-1]
    if not re.fullmatch(r"\d+\.\d+\.\d+\S*", tag):
        err(where, f"the app image must be tagged by version, not {tag!r}")
    if [port_pair(p) for p in api.get("ports", [])] != [("8007", "8007")]:
        err(where, f"sav-service must publish 8007:8007, has {api.get('ports')}")
    acmd = api.get("command") or []
    acmd = acmd.split() if isinstance(acmd, str) else acmd
    if acmd[:2] != ["sav", "serve"] or "8007" not in [defaults(a) for a in acmd]:
        err(where, "sav-service command must be `sav serve ... --port 8007`")
    wcmd = worker.get("command") or []
    wcmd = wcmd.split() if isinstance(wcmd, str) else wcmd
    if wcmd != ["sav", "worker", "all"]:
        err(where, "sav-worker command must be `sav worker all`")
    hc = api.get("healthcheck") or {}
    if "/health" not in str(hc.get("test")):
        err(where, "sav-service healthcheck must hit /health")
    if "8008/health" not in str((worker.get("healthcheck") or {}).get("test")):
        err(where, "sav-worker healthcheck must hit its health port: 8008/health")
    mysql = services.get("sav-mysql", {})
    if not re.fullmatch(r"mysql:8\.4\.\d+", str(mysql.get("image"))):
        err(where, "sav-mysql image must be MySQL 8.4 LTS, pinned (mysql:8.4.N)")
    if [port_pair(p) for p in mysql.get("ports", [])] != [("3314", "3306")]:
        err(where, f"sav-mysql must publish 3314:3306, has {mysql.get('ports')}")
    if not mysql.get("volumes"):
        err(where, "sav-mysql needs a data volume")
    if not re.fullmatch(r"rabbitmq:4\.\d+\.\d+-management",
                        str(services.get("rabbitmq", {}).get("image"))):
        err(where, "rabbitmq image must be a pinned RabbitMQ 4 (rabbitmq:4.N.N-management)")
    minio = services.get("minio", {})
    if not re.fullmatch(r"minio/minio:RELEASE\.[\dT:-]+Z", str(minio.get("image", ""))):
        err(where, "minio image must be a pinned minio/minio:RELEASE.… tag")
    for sname in ("sav-mysql", "rabbitmq", "minio"):
        for p in (services.get(sname) or {}).get("ports") or []:
            if published_ip(p) != "127.0.0.1":
                err(where, f"{sname} publishes {p} on every interface: use 127.0.0.1:…")
    env = api.get("environment") or {}
    if "MINIO_PUBLIC_ENDPOINT" not in env:
        err(where, "sav-service: MINIO_PUBLIC_ENDPOINT missing (presigned URLs for clients)")
    mcmd = minio.get("command")
    mcmd = mcmd.split() if isinstance(mcmd, str) else (mcmd or [])
    if mcmd != ["server", "/data", "--console-address", ":9001"]:
        err(where, "minio command must be `server /data --console-address :9001`")
    for sname, s in services.items():
        if "e-commerce-network" not in (s.get("networks") or []):
            err(where, f"{sname} is not on e-commerce-network")
        deps = s.get("depends_on") or {}
        if isinstance(deps, dict):
            for dep, cond in deps.items():
                cond = (cond or {}).get("condition")
                if dep not in services:
                    err(where, f"{sname} depends on unknown service {dep}")
                elif cond == "service_healthy" and not services[dep].get("healthcheck"):
                    err(where, f"{sname} waits for {dep} to be healthy but {dep} has no healthcheck")
        for k, v in (s.get("environment") or {}).items():
            if SECRET_NAME.search(k) and not str(v).startswith("${"):
                err(where, f"{sname}: {k} is a literal; secrets must come from docker/.env")
    for sname in ("sav-mysql", "rabbitmq", "minio"):
        if sname in services and not services[sname].get("healthcheck"):
            err(where, f"{sname} has no healthcheck")
    nets = c.get("networks") or {}
    if "e-commerce-network" not in nets or (nets["e-commerce-network"] or {}).get("name") != "e-commerce-network":
        err(where, "network e-commerce-network must be declared with name: e-commerce-network")
    return api.get("image")


# ---------------------------------------------------------------- k8s
def check_k8s():
    manifests = {rel: docs for rel, docs in yaml_docs.items() if rel.startswith("k8s/")}
    objects = []  # (rel, doc)
    for rel, docs in manifests.items():
        if rel == "k8s/kustomization.yaml":
            continue
        if not docs:
            err(rel, "no YAML document")
        for doc in docs:
            if not isinstance(doc, dict):
                err(rel, "document is not a mapping")
                continue
            for key in ("apiVersion", "kind"):
                if not doc.get(key):
                    err(rel, f"document lacks {key}")
            meta = doc.get("metadata") or {}
            if not meta.get("name"):
                err(rel, f"{doc.get('kind')} lacks metadata.name")
            if "namespace" in meta:
                err(rel, f"{doc.get('kind')}/{meta.get('name')} sets a namespace (manifests are namespace-free)")
            objects.append((rel, doc))

    def find(kind, name=None):
        return [(r, d) for r, d in objects if d.get("kind") == kind
                and (name is None or d["metadata"].get("name") == name)]

    images = set()
    jobs = find("Job")
    if not any([str(a) for a in c.get("args") or []] == ["sav", "db", "upgrade"]
               for _, j in jobs for c in ((j.get("spec") or {}).get("template") or {})
               .get("spec", {}).get("containers") or []):
        err("k8s", "a Job must run `sav db upgrade` (job-migrate.yaml)")
    for rel, j in jobs:
        for c in (((j.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                "containers") or []:
            images.add(c.get("image"))
    deployments = find("Deployment")
    if len(deployments) != 2:
        err("k8s", f"expected 2 Deployments (api, worker), found {len(deployments)}")
    configmaps = {d["metadata"]["name"]: d for _, d in find("ConfigMap")}
    secrets = {d["metadata"]["name"]: d for _, d in find("Secret")}
    api_labels = None
    for rel, d in deployments:
        name = d["metadata"]["name"]
        spec = d.get("spec") or {}
        tmpl = spec.get("template") or {}
        pod = tmpl.get("spec") or {}
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            err(rel, f"{name}: selector.matchLabels does not match the pod template labels")
        if spec.get("replicas") != 2:
            err(rel, f"{name}: replicas must be 2")
        psc = pod.get("securityContext") or {}
        if not psc.get("runAsNonRoot"):
            err(rel, f"{name}: pod securityContext.runAsNonRoot must be true")
        if psc.get("runAsUser") in (None, 0):
            err(rel, f"{name}: pod securityContext.runAsUser must be a non-zero uid")
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        inits = pod.get("initContainers") or []
        if not any("sav db current" in " ".join(str(a) for a in i.get("args") or [])
                   for i in inits):
            err(rel, f"{name}: an init container must wait for the schema (`sav db current`)")
        for i in inits:
            images.add(i.get("image"))
        containers = pod.get("containers") or []
        if len(containers) != 1:
            err(rel, f"{name}: expected one container")
        for ct in containers:
            cname = ct.get("name")
            images.add(ct.get("image"))
            if "command" in ct:
                err(rel, f"{cname}: use args, not command (command replaces the tini entrypoint)")
            res = ct.get("resources") or {}
            want = {"requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"cpu": "300m", "memory": "512Mi"}}
            for part, vals in want.items():
                for k, v in vals.items():
                    if str((res.get(part) or {}).get(k)) != v:
                        err(rel, f"{cname}: resources.{part}.{k} must be {v}")
            csc = ct.get("securityContext") or {}
            if csc.get("readOnlyRootFilesystem") is not True:
                err(rel, f"{cname}: readOnlyRootFilesystem must be true")
            if csc.get("allowPrivilegeEscalation") is not False:
                err(rel, f"{cname}: allowPrivilegeEscalation must be false")
            tmp = [m for m in ct.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
            if not tmp or "emptyDir" not in (volumes.get(tmp[0].get("name")) or {}):
                err(rel, f"{cname}: /tmp must be an emptyDir mount (read-only root filesystem)")
            refs = ct.get("envFrom") or []
            cm_refs = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
            sec_refs = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
            for ref in cm_refs:
                if ref not in configmaps:
                    err(rel, f"{cname}: envFrom ConfigMap {ref} is not defined in k8s/")
            for ref in sec_refs:
                if ref not in secrets:
                    err(rel, f"{cname}: envFrom Secret {ref} is not defined in k8s/ (secret.example.yaml)")
            provided = set()
            for ref in cm_refs:
                provided |= set((configmaps.get(ref) or {}).get("data") or {})
            for ref in sec_refs:
                s = secrets.get(ref) or {}
                provided |= set(s.get("stringData") or {}) | set(s.get("data") or {})
            provided |= {e.get("name") for e in ct.get("env") or []}
            missing = [k for k in REQUIRED_ENV if k not in provided]
            if missing:
                err(rel, f"{cname}: environment lacks {', '.join(missing)}")
            args = [str(a) for a in ct.get("args") or []]
            component = labels.get("app.kubernetes.io/component")
            if component == "api":
                api_labels = labels
                if args[:2] != ["sav", "serve"] or "8007" not in args:
                    err(rel, f"{cname}: args must run `sav serve ... --port 8007`")
                ports = ct.get("ports") or []
                if not any(p.get("containerPort") == 8007 for p in ports):
                    err(rel, f"{cname}: containerPort 8007 missing")
                portnames = {p.get("name"): p.get("containerPort") for p in ports}

                def probe(kind, path_, period=None):
                    p = ct.get(kind) or {}
                    g = p.get("httpGet") or {}
                    port = g.get("port")
                    port = portnames.get(port, port)
                    if g.get("path") != path_ or port != 8007:
                        err(rel, f"{cname}: {kind} must GET {path_} on port 8007")
                    if period and p.get("periodSeconds") != period:
                        err(rel, f"{cname}: {kind}.periodSeconds must be {period}")
                    return p

                probe("livenessProbe", "/health", 10)
                probe("readinessProbe", "/status")
                sp = probe("startupProbe", "/health")
                budget = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
                if budget < 30:
                    err(rel, f"{cname}: startupProbe allows {budget}s, must allow 30s")
            elif component == "worker":
                if args != ["sav", "worker", "all"]:
                    err(rel, f"{cname}: args must be `sav worker all`")
                live = (ct.get("livenessProbe") or {}).get("httpGet") or {}
                if live.get("path") != "/health" or live.get("port") not in ("health", 8008):
                    err(rel, f"{cname}: livenessProbe must GET /health on the health port 8008")
            else:
                err(rel, f"{name}: label app.kubernetes.io/component must be api or worker")
    images.discard(None)
    for image in images:
        if not re.fullmatch(r"\d+\.\d+\.\d+\S*", str(image).rsplit(":", 1)[-1]):
            err("k8s", f"image {image} is not tagged by version")
    if len(images) != 1:
        err("k8s", f"Deployments use different images: {sorted(images)}")
    elif image_repo(next(iter(images))) != IMAGE_REPO:
        err("k8s", f"image {next(iter(images))} is not {IMAGE_REPO}")

    services = find("Service")
    if len(services) != 1:
        err("k8s", "expected one Service")
    for rel, s in services:
        spec = s.get("spec") or {}
        if spec.get("type", "ClusterIP") != "ClusterIP":
            err(rel, "Service type must be ClusterIP")
        if [p.get("port") for p in spec.get("ports") or []] != [8007]:
            err(rel, "Service must expose port 8007")
        sel = spec.get("selector") or {}
        if not api_labels or not sel or any(api_labels.get(k) != v for k, v in sel.items()):
            err(rel, "Service selector does not select the API pods")
        if sel.get("app.kubernetes.io/component") != "api":
            err(rel, "Service selector must exclude the worker pods (component: api)")
    for rel, p in find("PodDisruptionBudget"):
        sel = ((p.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not api_labels or any(api_labels.get(k) != v for k, v in sel.items()):
            err(rel, "PodDisruptionBudget selector does not select the API pods")

    for name, cm in configmaps.items():
        data = cm.get("data") or {}
        for k, v in data.items():
            if not isinstance(v, str):
                err("k8s/configmap.yaml", f"{k} must be a string (quote it)")
            if k in SECRET_ENV or SECRET_NAME.search(k):
                err("k8s/configmap.yaml", f"{k} is secret: move it to the Secret")
        if data.get("SAV_INPROCESS_WORKERS") != "false":
            err("k8s/configmap.yaml", "SAV_INPROCESS_WORKERS must be \"false\"")
        if data.get("APP_PORT") != "8007":
            err("k8s/configmap.yaml", "APP_PORT must be \"8007\"")
    for rel, s in find("Secret"):
        if rel != "k8s/secret.example.yaml":
            err(rel, "Secrets belong only in the template k8s/secret.example.yaml")
        vals = dict(s.get("stringData") or {})
        if s.get("data"):
            err(rel, "the template must use stringData with CHANGE_ME placeholders, not data")
        for k, v in vals.items():
            if v != "CHANGE_ME":
                err(rel, f"{k} must be the placeholder CHANGE_ME")
        for k in SECRET_ENV:
            if k not in vals:
                err(rel, f"Secret template lacks {k}")

    kz = (manifests.get("k8s/kustomization.yaml") or [None])[0]
    if kz:
        res = kz.get("resources") or []
        for r in res:
            if not os.path.exists(path("k8s", r)):
                err("k8s/kustomization.yaml", f"resource {r} does not exist")
        if "secret.example.yaml" in res:
            err("k8s/kustomization.yaml", "must not list secret.example.yaml (placeholders)")
        for rel in manifests:
            base = rel.split("/", 1)[1]
            if base not in res and base not in ("kustomization.yaml", "secret.example.yaml"):
                err("k8s/kustomization.yaml", f"does not list {base}")
        for img in kz.get("images") or []:
            if img.get("name") != IMAGE_REPO:
                err("k8s/kustomization.yaml", f"images entry {img.get('name')} is not {IMAGE_REPO}")
            if not re.fullmatch(r"\d+\.\d+\.\d+\S*", str(img.get("newTag", ""))):
                err("k8s/kustomization.yaml", f"newTag {img.get('newTag')!r} is not a version")
    return images


def check_monitoring():
    import json
    where = "k8s/monitoring/prometheus-rules.yaml"
    try:
        rules = yaml.safe_load(open(path(where), encoding="utf-8"))
        alerts = [r for g in rules["groups"] for r in g["rules"]]
        for r in alerts:
            if not (r.get("alert") and r.get("expr") and (r.get("annotations") or {}).get("summary")):
                err(where, f"rule {r.get('alert')!r} needs alert, expr and a summary")
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        err(where, f"missing or malformed: {exc}")
    where = "k8s/monitoring/grafana-dashboard.json"
    try:
        dashboard = json.load(open(path(where), encoding="utf-8"))
        if not dashboard.get("panels"):
            err(where, "no panels")
    except (OSError, ValueError) as exc:
        err(where, f"missing or malformed: {exc}")


check_dockerfile()
check_dockerignore()
check_monitoring()
check_pyproject()
compose_image = check_compose()
k8s_images = check_k8s()
if compose_image and k8s_images and {image_repo(i) for i in k8s_images} != {image_repo(compose_image)}:
    err("images", f"compose ({compose_image}) and k8s ({sorted(k8s_images)}) name different images")

for e in errors:
    print(f"    - {e}", file=sys.stderr)
print(f"    {len(yaml_docs)} YAML files parsed; {len(errors)} problem(s)")
sys.exit(1 if errors else 0)
PYEOF
}

run_step "structure: Dockerfile, .dockerignore, pyproject, compose, k8s" structure_checks

# --------------------------------------------------------------------------- 2
compose_config() {
    "$@" --env-file "$ROOT/docker/.env.example" -f "$ROOT/docker/docker-compose.yml" config -q
}
if docker compose version >/dev/null 2>&1; then
    run_step "docker compose config -q" compose_config docker compose
elif command -v docker-compose >/dev/null 2>&1; then
    run_step "docker-compose config -q" compose_config docker-compose
else
    skip_step "compose config -q" "neither 'docker compose' nor 'docker-compose' is installed"
fi

# --------------------------------------------------------------------------- 3
KV=()
if "$PY" -c "import kubernetes_validate" >/dev/null 2>&1; then
    KV=("$PY" -c "import sys; from kubernetes_validate.__main__ import main; sys.exit(main())")
    if ! "${KV[@]}" --version >/dev/null 2>&1; then
        KV=()
        cli="$(dirname "$PY")/kubernetes-validate"
        [[ -x "$cli" ]] && KV=("$cli")
    fi
elif command -v kubernetes-validate >/dev/null 2>&1; then
    KV=(kubernetes-validate)
fi
if ((${#KV[@]})); then
    mapfile -t manifests < <(find "$ROOT/k8s" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml | sort)
    run_step "kubernetes-validate --strict (k8s $K8S_VERSION)" \
        "${KV[@]}" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"
else
    skip_step "kubernetes-validate" "not installed (pip install kubernetes-validate)"
fi

# --------------------------------------------------------------------------- 4
kustomize_render() {
    local out
    out="$(mktemp --suffix=.yaml)" || return 1
    if ! kubectl kustomize "$ROOT/k8s" >"$out"; then
        rm -f "$out"; return 1
    fi
    local kinds
    kinds="$(grep -E '^kind: ' "$out" | sort | tr '\n' ' ')"
    echo "    rendered: $kinds"
    local rc=0
    for k in ConfigMap Deployment Service PodDisruptionBudget; do
        grep -qx "kind: $k" "$out" || { echo "    render lacks a $k" >&2; rc=1; }
    done
    if grep -qx "kind: Secret" "$out"; then
        echo "    render contains a Secret (placeholders must not be applied)" >&2; rc=1
    fi
    if ((${#KV[@]})) && ((rc == 0)); then
        "${KV[@]}" --strict --quiet -k "$K8S_VERSION" "$out" || rc=1
    fi
    rm -f "$out"
    return $rc
}
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    run_step "kubectl kustomize k8s" kustomize_render
else
    skip_step "kubectl kustomize k8s" "kubectl is not installed"
fi

# --------------------------------------------------------------------------- summary
echo
echo "passed: ${#passed[@]}  skipped: ${#skipped[@]}  failed: ${#failed[@]}"
for s in "${skipped[@]}"; do echo "  skipped: $s"; done
for f in "${failed[@]}"; do echo "  FAILED: $f" >&2; done
((${#failed[@]} == 0))
