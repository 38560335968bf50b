#!/usr/bin/env python3
"""Times luau-exec beside Lune on TestEZ suites of other shapes than `cargo bench --bench
suite` builds, and prints one line per shape: each tool's median wall time and CPU, its peak
RSS, and the ratio. The README's "other shapes" figures come from it.

    python3 scripts/suite-shapes.py --luau-exec target/release/luau-exec \\
        --lune ~/.cargo/bin/lune --testez path/to/@rbxts/testez/package/src

Shapes (5,000 tests each, every one passing):
- `compute`: 1,000 spec modules of five tests that sort, format and join sixty numbers;
- `tiny`: 250 spec modules of twenty one-line tests under two nested `describe` blocks;
- `instances`: 1,000 spec modules of five tests that build a folder of eight children, look
  one up and destroy the folder (the bench's `instances-1000` does more of this).

Places are written as `.rbxlx` under a scratch folder. Lune runs `benches/lune/run-testez.luau`,
the bench's script of the approach Lune users take. Runs are interleaved; `--rounds` sets how
many (default 7). Needs Python 3.8+ on Linux (peak RSS from `wait4`).
"""

import argparse
import html
import os
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = {
    "compute": (1000, 5),
    "tiny": (250, 20),
    "instances": (1000, 5),
}


def module(name, source, children=""):
    return (
        '<Item class="ModuleScript" referent="{}"><Properties><string name="Name">{}</string>'
        '<ProtectedString name="Source"><![CDATA[{}]]></ProtectedString></Properties>{}</Item>'
    ).format(next_ref(), html.escape(name), source, children)


def folder(name, children):
    return (
        '<Item class="Folder" referent="{}"><Properties><string name="Name">{}</string>'
        "</Properties>{}</Item>"
    ).format(next_ref(), html.escape(name), children)


_refs = [0]


def next_ref():
    _refs[0] += 1
    return "RBX{}".format(_refs[0])


def from_dir(name, path):
    """A folder of Lua files as Rojo maps it (`init.lua` makes the folder a ModuleScript)."""
    children = ""
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if os.path.isdir(full):
            children += from_dir(entry, full)
        elif entry.endswith(".lua") and entry != "init.lua":
            with open(full, encoding="utf-8") as file:
                children += module(entry[:-4], file.read())
    init = os.path.join(path, "init.lua")
    if os.path.exists(init):
        with open(init, encoding="utf-8") as file:
            return module(name, file.read(), children)
    return folder(name, children)


def test_source(shape, spec, index):
    if shape == "compute":
        return """		it("sorts and formats {i}", function()
			local items = {{}}
			for k = 1, 60 do items[k] = (k * 7919 + {spec}) % 101 end
			table.sort(items)
			local parts = {{}}
			for k, v in items do parts[k] = string.format("%03d", v) end
			expect(#table.concat(parts, ",")).to.equal(60 * 4 - 1)
			expect(items[1] <= items[60]).to.equal(true)
		end)
""".format(i=index, spec=spec)
    if shape == "tiny":
        return """			it("case {i}", function()
				expect({i} + {spec}).to.equal({total})
			end)
""".format(i=index, spec=spec, total=index + spec)
    return """		it("builds tree {i}", function()
			local root = Instance.new("Folder")
			root.Name = "root{spec}"
			for k = 1, 8 do
				local child = Instance.new("Folder")
				child.Name = "c" .. k
				child.Parent = root
			end
			expect(#root:GetChildren()).to.equal(8)
			expect(root:FindFirstChild("c5").Parent).to.equal(root)
			root:Destroy()
		end)
""".format(i=index, spec=spec)


def spec_source(shape, spec, tests):
    body = "".join(test_source(shape, spec, index) for index in range(tests))
    if shape == "tiny":
        body = '\t\tdescribe("inner", function()\n{}\t\tend)\n'.format(body)
    return 'return function()\n\tdescribe("feature {}", function()\n{}\tend)\nend\n'.format(
        spec, body
    )


def write_place(shape, testez, path):
    specs, tests = SHAPES[shape]
    groups = ""
    for first in range(0, specs, 100):
        modules = "".join(
            module("feature{}.spec".format(spec), spec_source(shape, spec, tests))
            for spec in range(first, min(first + 100, specs))
        )
        groups += folder("group{}".format(first // 100), modules)
    storage = (
        '<Item class="ReplicatedStorage" referent="{}"><Properties><string name="Name">'
        "ReplicatedStorage</string></Properties>{}{}</Item>"
    ).format(next_ref(), from_dir("TestEZ", testez), folder("Tests", groups))
    workspace = (
        '<Item class="Workspace" referent="{}"><Properties><string name="Name">Workspace'
        "</string></Properties></Item>"
    ).format(next_ref())
    with open(path, "w", encoding="utf-8") as file:
        file.write('<roblox version="4">{}{}</roblox>'.format(workspace, storage))
    return specs * tests


def luau_exec_command(binary, place):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "INPUT_BACKEND": "local",
        "INPUT_PLACE_FILE": place,
        "INPUT_TEST_FRAMEWORK": "testez",
        "INPUT_TEST_ROOTS": "ReplicatedStorage.Tests",
        "INPUT_FRAMEWORK_PATH": "ReplicatedStorage.TestEZ",
        "INPUT_TIMEOUT": "5m",
        "INPUT_OUTPUT_FORMAT": "json",
    }
    return [binary], env


def lune_command(lune, place):
    script = os.path.join(os.path.dirname(__file__), "..", "benches", "lune", "run-testez.luau")
    return [lune, "run", os.path.abspath(script), place], dict(os.environ)


def run_once(command, env):
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--luau-exec", required=True)
    parser.add_argument("--lune", required=True)
    parser.add_argument("--testez", required=True, help="TestEZ's source folder (package/src)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("shapes", nargs="*", default=list(SHAPES))
    args = parser.parse_args()
    with open("/proc/loadavg", encoding="ascii") as file:
        print("load average before:", " ".join(file.read().split()[:3]))
    with tempfile.TemporaryDirectory(prefix="suite-shapes-") as scratch:
        for shape in args.shapes:
            if shape not in SHAPES:
                sys.exit("unknown shape {!r}: one of {}".format(shape, ", ".join(SHAPES)))
            place = os.path.join(scratch, shape + ".rbxlx")
            tests = write_place(shape, args.testez, place)
            tools = {
                "luau-exec": luau_exec_command(args.luau_exec, place),
                "Lune": lune_command(args.lune, place),
            }
            runs = {name: [] for name in tools}
            for _ in range(args.rounds):
                for name, (command, env) in tools.items():
                    runs[name].append(run_once(command, env))
            medians = {}
            for name, results in runs.items():
                medians[name] = (
                    statistics.median(r[0] for r in results),
                    statistics.median(r[1] for r in results),
                    max(r[2] for r in results),
                    sorted({r[3] for r in results}),
                )
            ours, lune = medians["luau-exec"], medians["Lune"]
            print(
                "{}: {} tests; luau-exec {:.3f} s (CPU {:.2f} s, {:.1f} MiB, exit {}), "
                "Lune {:.3f} s (CPU {:.2f} s, {:.1f} MiB, exit {}): {:.2f}x the time, "
                "{:.2f}x the peak".format(
                    shape, tests, ours[0], ours[1], ours[2], ours[3],
                    lune[0], lune[1], lune[2], lune[3], ours[0] / lune[0], ours[2] / lune[2],
                )
            )
    with open("/proc/loadavg", encoding="ascii") as file:
        print("load average after:", " ".join(file.read().split()[:3]))


if __name__ == "__main__":
    main()
