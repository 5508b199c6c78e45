#!/usr/bin/python3
"""Checks docs/grafana/marketmonitor.json: a dashboard Grafana can import
(title, uid, unique panel ids, grid positions, a Prometheus data source
variable), whose every query is valid PromQL (`promtool check rules` on
them as recording rules) and names only metrics the server exports
(service/prometheus_text.cpp). Fails, not skips, without promtool."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
DASHBOARD = os.path.join(SOURCE, "docs", "grafana", "marketmonitor.json")
RENDERER = os.path.join(SOURCE, "service", "prometheus_text.cpp")


def fail(what):
    print("check_dashboard: FAILED: " + what)
    sys.exit(1)


def main():
    if shutil.which("promtool") is None:
        fail("promtool not found: run scripts/setup (Debian package "
             "prometheus)")
    with open(DASHBOARD) as f:
        dash = json.load(f)
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dash:
            fail("no %r" % key)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    if variables.get("datasource", {}).get("query") != "prometheus":
        fail("no Prometheus data source variable")
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        fail("panel ids repeat: %r" % ids)
    with open(RENDERER) as f:
        renderer = f.read()
    exported = set(re.findall(r'"(process_[a-z_]+)"', renderer))
    exported |= {"marketmonitor_" + n for n in
                 re.findall(r'(?:gauge|counter)\("([a-z_]+)"', renderer)}
    exported |= {"marketmonitor_" + n for n in
                 re.findall(r'out\.family\(p \+ "([a-z_]+)"', renderer)}
    rules = []
    for p in dash["panels"]:
        for k in ("type", "title", "gridPos", "targets", "datasource"):
            if k not in p:
                fail("panel %s has no %r" % (p.get("id"), k))
        for t in p["targets"]:
            expr = t["expr"]
            for name in re.findall(r"\b((?:marketmonitor|process)_[a-z_]+)",
                                   expr):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name not in exported and base not in exported:
                    fail("panel %r queries %s, which the server does not "
                         "export" % (p["title"], name))
            expr = expr.replace("$__rate_interval", "1m")
            rules.append("      - record: dashboard:panel_%d_%s\n"
                         "        expr: %s\n"
                         % (p["id"], t["refId"], json.dumps(expr)))
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n" + "".join(rules))
        f.flush()
        res = subprocess.run(["promtool", "check", "rules", f.name],
                             capture_output=True, text=True)
    if res.returncode != 0:
        fail("promtool check rules:\n" + res.stdout + res.stderr)
    print("check_dashboard: %d panels, %d queries: ok"
          % (len(ids), len(rules)))


if __name__ == "__main__":
    main()
