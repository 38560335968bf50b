#!/usr/bin/env python3
"""Runs open-source libraries' own TestEZ suites offline, as a user would, and prints the table
the README shows (library, commit, tests, passed, failed, skipped, time).

Each library is built with Rojo from its own project file (a library whose repository has only a
model project, `default.project.json`, is put in a place beside TestEZ by a two-line wrapper
project), its sourcemap written, and its suite run by luau-exec's local backend. What a
library's own runner does first (Roact's `setGlobalConfig`) is a `test-setup` module added
beside the library's project:

    python3 scripts/real-suites.py --luau-exec target/release/luau-exec \\
        --testez path/to/@rbxts/testez/package/src \\
        roact=checkouts/roact rodux=checkouts/rodux promise=checkouts/promise t=checkouts/t

A checkout is the library's repository at any commit (its TestEZ submodule may be missing: the
npm `@rbxts/testez` source is put in its place). Checkouts are copied to a scratch folder first
and never modified. Needs Python 3.8+, Rojo 7 and git (for the commit column) on PATH.

`jest=NODE_MODULES` runs a 3-test Jest-Lua project (one passing, one failing, one skipped test)
on the Jest-Lua in a `node_modules` folder (`npm install @rbxts/jest@3.13.3-ts.1
@rbxts/jest-globals@3.13.3-ts.1`); its right counts are 1 passed, 1 failed, 1 skipped.

Another library is one entry of `--recipes FILE`, a JSON object shaped like `RECIPES` below
(`{"mylib": {"repository": "me/mylib", "project": "test.project.json", "testez":
"modules/testez", "roots": "ReplicatedStorage.MyLib", "framework": "ReplicatedStorage.TestEZ"}}`;
`"project": null` with a `"name"` wraps a model project in a place).

`--failures` also lists every failing test with the first line of its message; `--keep DIR`
keeps each library's build (place, sourcemap, luau-exec's JSON result) there.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# How each library's suite is laid out: the project file to build (None: the library's model
# project, wrapped in a place by `wrap_as_place`), where its TestEZ submodule lives, the test
# roots and TestEZ's instance path in the built place, and any `test-setup` module (a service
# and its source) that does what the library's own runner does before running its tests.
# What Roact's own runner (bin/run-tests.server.lua) does before TestBootstrap:run; Roact-Rodux's
# (test/runner.server.lua) does the same.
ROACT_SETUP = (
    "ServerStorage",
    "local Roact = require(game:GetService(\"ReplicatedStorage\").Roact)\n"
    "Roact.setGlobalConfig({\n\tinternalTypeChecks = true,\n\ttypeChecks = true,\n"
    "\telementTracing = true,\n\tpropValidation = true,\n})\nreturn nil\n",
)

RECIPES = {
    "roact": {
        "repository": "Roblox/roact",
        "project": "place.project.json",
        "testez": "modules/testez",
        "roots": "ReplicatedStorage.Roact",
        "framework": "ReplicatedStorage.TestEZ",
        "setup": ROACT_SETUP,
    },
    # Tried beyond issue 16's four. Its Roact and Rodux are submodules: check them out
    # (`git submodule update --init modules/roact modules/rodux`).
    "roact-rodux": {
        "repository": "Roblox/roact-rodux",
        "project": "test-place.project.json",
        "testez": "modules/testez",
        "roots": "ReplicatedStorage.RoactRodux",
        "framework": "ReplicatedStorage.TestEZ",
        "setup": ROACT_SETUP,
    },
    "rodux": {
        "repository": "Roblox/rodux",
        "project": None,
        "name": "Rodux",
        "testez": "modules/testez",
        "roots": "ReplicatedStorage.Rodux",
        "framework": "ReplicatedStorage.TestEZ",
    },
    "promise": {
        "repository": "evaera/roblox-lua-promise",
        "project": "test.project.json",
        "testez": "modules/testez",
        "roots": "ServerScriptService.Lib",
        "framework": "TestService.TestEZ",
    },
    "t": {
        "repository": "osyrisrblx/t",
        "project": None,
        "name": "t",
        "testez": "modules/testez",
        "roots": "ReplicatedStorage.t",
        "framework": "ReplicatedStorage.TestEZ",
    },
    # Tried beyond issue 16's four: Fusion 0.2 (tag v0.2-beta) ships its own TestEZ beside its
    # runner, a client script.
    "fusion": {
        "repository": "dphfox/Fusion",
        "project": "test-runner.project.json",
        "testez": None,
        "roots": "ReplicatedStorage.FusionTest",
        "framework": "StarterPlayer.StarterPlayerScripts.TestEZ",
    },
}

WRAPPER = "luau-exec-place.project.json"

# The Jest-Lua project: roblox-ts's layout (`rbxts_include.node_modules`), a `jest.config`, and
# one spec file whose three tests pass, fail and are skipped.
JEST = {
    "repository": "@rbxts/jest (npm)",
    "framework-name": "jest",
    "roots": "ReplicatedStorage.Tests",
    "framework": "ReplicatedStorage.rbxts_include.node_modules.@rbxts.jest.src",
}
JEST_CONFIG = 'return {\n\ttestMatch = { "**/*.spec" },\n}\n'
JEST_SPEC = """local JestGlobals = require(game:GetService("ReplicatedStorage").rbxts_include.node_modules["@rbxts"]["jest-globals"].src)
local describe, it, expect = JestGlobals.describe, JestGlobals.it, JestGlobals.expect

describe("sum", function()
\tit("adds", function()
\t\texpect(1 + 2).toBe(3)
\tend)
\tit("fails", function()
\t\texpect(1 + 1).toBe(3)
\tend)
\tit.skip("later", function()
\t\texpect(true).toBe(false)
\tend)
end)
"""


def fail(message):
    print(f"real-suites: {message}", file=sys.stderr)
    sys.exit(2)


def run(command, cwd=None):
    """Runs a command, failing the script with its output when it fails."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"`{' '.join(command)}` exited {done.returncode}:\n{done.stderr or done.stdout}")
    return done.stdout


def commit_of(checkout):
    """The checkout's short commit, or `?` when it is not a git work tree."""
    done = subprocess.run(
        ["git", "-C", checkout, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else "?"


def fill_testez(work, recipe, testez):
    """Puts TestEZ where the library's submodule would be, laid out as the TestEZ repository
    is (its `src` and a project file naming it), unless the submodule is checked out or the
    library ships its own (`"testez": None`)."""
    if recipe["testez"] is None:
        return
    home = os.path.join(work, recipe["testez"])
    if os.path.exists(os.path.join(home, "src", "init.lua")):
        return
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(testez, os.path.join(home, "src"))
    with open(os.path.join(home, "default.project.json"), "w") as out:
        json.dump({"name": "TestEZ", "tree": {"$path": "src"}}, out)


def wrap_as_place(work, recipe):
    """A place project holding the library's own model project and TestEZ, in ReplicatedStorage."""
    tree = {
        "$className": "DataModel",
        "ReplicatedStorage": {
            "$className": "ReplicatedStorage",
            recipe["name"]: {"$path": "default.project.json"},
            "TestEZ": {"$path": recipe["testez"]},
        },
    }
    with open(os.path.join(work, WRAPPER), "w") as out:
        json.dump({"name": f"{recipe['name']} (luau-exec)", "tree": tree}, out, indent=2)
    return WRAPPER


SETUP_MODULE = "LuauExecTestSetup"


def with_setup(work, recipe, project):
    """The library's place project with the `test-setup` module added in a service the place
    does not use (Rojo nests the library's own project file unchanged)."""
    service, source = recipe["setup"]
    with open(os.path.join(work, "luau-exec-setup.lua"), "w") as out:
        out.write(source)
    tree = {
        "$path": project,
        service: {"$className": service, SETUP_MODULE: {"$path": "luau-exec-setup.lua"}},
    }
    with open(os.path.join(work, WRAPPER), "w") as out:
        json.dump({"name": "luau-exec test setup", "tree": tree}, out, indent=2)
    return WRAPPER, f"{service}.{SETUP_MODULE}"


def build(name, checkout, testez, work, rojo):
    """Copies the checkout to `work`, fills TestEZ in, and builds the place and its sourcemap."""
    recipe = RECIPES[name]
    shutil.copytree(checkout, work, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    fill_testez(work, recipe, testez)
    project = recipe["project"] or wrap_as_place(work, recipe)
    setup = None
    if "setup" in recipe:
        project, setup = with_setup(work, recipe, project)
    place = os.path.join(work, "build.rbxl")
    sourcemap = os.path.join(work, "sourcemap.json")
    run([rojo, "build", project, "--output", place], cwd=work)
    run([rojo, "sourcemap", project, "--output", sourcemap], cwd=work)
    return work, place, sourcemap, setup


def build_jest(node_modules, work, rojo):
    """Writes the Jest-Lua project in `work` around a copy of `node_modules`, and builds it."""
    shutil.copytree(node_modules, os.path.join(work, "node_modules"), symlinks=True)
    os.makedirs(os.path.join(work, "tests"))
    with open(os.path.join(work, "tests", "jest.config.lua"), "w") as out:
        out.write(JEST_CONFIG)
    with open(os.path.join(work, "tests", "sum.spec.lua"), "w") as out:
        out.write(JEST_SPEC)
    packages = {
        scope: {"$path": f"node_modules/{scope}"}
        for scope in ("@rbxts", "@rbxts-js")
        if os.path.isdir(os.path.join(node_modules, scope))
    }
    tree = {
        "$className": "DataModel",
        "ReplicatedStorage": {
            "$className": "ReplicatedStorage",
            "rbxts_include": {
                "$className": "Folder",
                "node_modules": {"$className": "Folder", **packages},
            },
            "Tests": {"$path": "tests"},
        },
    }
    with open(os.path.join(work, "default.project.json"), "w") as out:
        json.dump({"name": "jest-project", "tree": tree}, out, indent=2)
    place = os.path.join(work, "build.rbxl")
    sourcemap = os.path.join(work, "sourcemap.json")
    run([rojo, "build", "default.project.json", "--output", place], cwd=work)
    run([rojo, "sourcemap", "default.project.json", "--output", sourcemap], cwd=work)
    return work, place, sourcemap, None


def jest_version(node_modules):
    try:
        with open(os.path.join(node_modules, "@rbxts", "jest", "package.json")) as package:
            return json.load(package).get("version", "?")
    except (OSError, ValueError):
        return "?"


def run_suite(luau_exec, recipe, work, place, sourcemap, extra):
    """Runs the suite with luau-exec's local backend; the JSON result line and the wall time."""
    command = [
        luau_exec, "--backend", "local", "--output-format", "json",
        "--test-framework", recipe.get("framework-name", "testez"), "--place-file", place,
        "--test-roots", recipe["roots"], "--framework-path", recipe["framework"],
        "--sourcemap", sourcemap, *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    env.pop("GITHUB_ACTIONS", None)
    started = time.monotonic()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env)
    seconds = time.monotonic() - started
    result = None
    for line in done.stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("event") == "result":
            result = value
    if result is None:
        fail(f"luau-exec exited {done.returncode} without a result:\n{done.stderr[-2000:]}")
    return result, seconds


def first_line(text):
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--luau-exec", required=True, help="the luau-exec binary")
    parser.add_argument("--testez", required=True, help="TestEZ's src folder (npm @rbxts/testez)")
    parser.add_argument("--rojo", default="rojo", help="the Rojo binary (default: rojo on PATH)")
    parser.add_argument("--failures", action="store_true", help="list every failing test")
    parser.add_argument("--keep", help="keep each library's build and result in this folder")
    parser.add_argument("--recipes", help="a JSON file of more libraries' recipes (see above)")
    parser.add_argument(
        "checkouts", nargs="+", metavar="LIBRARY=CHECKOUT",
        help=f"a library ({', '.join(RECIPES)}) and its checkout, or jest=NODE_MODULES",
    )
    args = parser.parse_args()
    if args.recipes:
        try:
            with open(args.recipes) as extra:
                RECIPES.update(json.load(extra))
        except (OSError, ValueError) as e:
            fail(f"--recipes `{args.recipes}`: {e}")
    luau_exec = os.path.abspath(args.luau_exec)
    testez = os.path.abspath(args.testez)
    if not os.path.isfile(os.path.join(testez, "init.lua")):
        fail(f"`{args.testez}` is not TestEZ's src folder (no init.lua)")
    pairs = []
    for item in args.checkouts:
        name, _, checkout = item.partition("=")
        if (name not in RECIPES and name != "jest") or not checkout:
            fail(f"`{item}`: expected LIBRARY=CHECKOUT with LIBRARY one of {', '.join(RECIPES)}, or jest=NODE_MODULES")
        if not os.path.isdir(checkout):
            fail(f"`{checkout}` is not a folder")
        pairs.append((name, os.path.abspath(checkout)))

    scratch = args.keep or tempfile.mkdtemp(prefix="real-suites-")
    os.makedirs(scratch, exist_ok=True)
    rows, failures = [], []
    names = [name for name, _ in pairs]
    for index, (name, checkout) in enumerate(pairs):
        # Each run its own folder: the same library may be given twice (two Jest-Lua versions).
        unique = names.count(name) == 1
        folder = os.path.join(scratch, name if unique else f"{name}-{index + 1}")
        shutil.rmtree(folder, ignore_errors=True)
        if name == "jest":
            recipe, commit = JEST, jest_version(checkout)
            work, place, sourcemap, setup = build_jest(checkout, folder, args.rojo)
        else:
            recipe, commit = RECIPES[name], commit_of(checkout)
            work, place, sourcemap, setup = build(name, checkout, testez, folder, args.rojo)
        extra = ["--timeout", "120"] + (["--test-setup", setup] if setup else [])
        result, seconds = run_suite(luau_exec, recipe, work, place, sourcemap, extra)
        with open(os.path.join(work, "luau-exec-result.json"), "w") as out:
            json.dump(result, out, indent=1)
        tests = result.get("tests") or {}
        counts = tests.get("counts") or {}
        passed, failed, skipped = (counts.get(k, 0) for k in ("passed", "failed", "skipped"))
        rows.append([
            f"{recipe['repository']}", commit, str(passed + failed + skipped),
            str(passed), str(failed), str(skipped), f"{seconds:.2f} s",
            f"{result.get('outcome', '?')} (exit {result.get('exitCode', '?')})",
        ])
        for test in tests.get("tests") or []:
            if test.get("status") == "failed":
                failures.append((name, " › ".join(test.get("path") or []), first_line(test.get("message"))))
        if not tests:
            failures.append((name, "(the run)", first_line(result.get("errorMessage") or result.get("problem"))))

    header = ["library", "commit", "tests", "passed", "failed", "skipped", "time", "outcome"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.failures and failures:
        print()
        for name, path, message in failures:
            print(f"- {name}: {path}: {message}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
