#!/usr/bin/env python3
"""Integration tests of what turns a timeline into answers: host call stacks,
the memory timeline, launch shapes, kernel names and the time table — all
read back from the files omniprof wrote for samples run under the preload."""
import json
import os
import re
import unittest

from helpers import api_events, binary, load, per_api, read_text, run, trace_dir, traces

MIB = 1 << 20


def function_of(frame_text):
    """'name (module+0x1f)' -> 'name'."""
    return re.sub(r" \([^()]*\+0x[0-9a-f]+\)$", "", frame_text)


class Insight(unittest.TestCase):
    def setUp(self):
        self.dir = trace_dir(self, "omniprof-insight-")

    def profile(self, name, *args, omniprof=""):
        r = run([binary(name), *map(str, args)],
                OMNIPROF=f"autostart=1,dir={self.dir}" + ("," + omniprof if omniprof else ""))
        self.assertEqual(r.returncode, 0, r.stderr)
        (path,) = traces(self.dir)
        return r, load(path)

    def table(self):
        (path,) = [os.path.join(self.dir, f) for f in os.listdir(self.dir)
                   if f.startswith("profiler_out_")]
        return read_text(path)

    # ---- stacks ----------------------------------------------------------

    def test_stack_names_the_call_chain_in_order(self):
        _, t = self.profile("call_chain", 4)
        launches = [e for e in api_events(t) if e["name"] == "cuLaunchKernel"]
        self.assertEqual(len(launches), 4)
        stack = [function_of(f) for f in launches[0]["args"]["Call stack"]]
        self.assertEqual(stack[:4], ["inner_launch", "middle_layer", "outer_layer", "main"])
        self.assertTrue(all("call_chain+0x" in f for f in launches[0]["args"]["Call stack"][:4]))
        alloc = next(e for e in api_events(t) if e["name"] == "cuMemAlloc_v2")
        self.assertEqual([function_of(f) for f in alloc["args"]["Call stack"][:2]],
                         ["allocate_scratch", "main"])
        # the stackFrames tree says the same, leaf to root
        frames = t["stackFrames"]
        node, walked = launches[0]["sf"], []
        while node:
            walked.append(function_of(frames[node]["name"]))
            node = frames[node].get("parent")
        self.assertEqual(walked, stack)

    def test_identical_stacks_are_stored_once(self):
        _, t = self.profile("call_chain", 50)
        launches = [e for e in api_events(t) if e["name"] == "cuLaunchKernel"]
        self.assertEqual(len(launches), 50)
        self.assertEqual(len({e["sf"] for e in launches}), 1)
        # launch, allocation, synchronisation and free sites; outer frames once
        self.assertEqual(t["omniprof"]["stacks"], 4)
        names = [function_of(f["name"]) for f in t["stackFrames"].values()]
        self.assertEqual(names.count("main"), 4, "one node per call site in main: outer_layer, "
                         "allocate_scratch, cuCtxSynchronize, cuMemFree")
        self.assertEqual(names.count("_start"), 1, "the common root is stored once")

    def test_without_stacks(self):
        _, t = self.profile("call_chain", 3, omniprof="with_stack=false")
        self.assertNotIn("stackFrames", t)
        ev = api_events(t)
        self.assertEqual(per_api(t)[("cuLaunchKernel", "chain_kernel")], 3)
        self.assertEqual([e for e in ev if "sf" in e or "Call stack" in e["args"]], [])

    # ---- memory ------------------------------------------------------------

    def test_memory_totals_follow_the_sequence(self):
        _, t = self.profile("memory_timeline", omniprof="with_memory=1,delay_iterations=1")
        mem = [e["args"] for e in t["traceEvents"] if e.get("name") == "[memory]"]
        gpu = [(m["Bytes"], m["Total Allocated"]) for m in mem if m["Device Type"] == 1]
        self.assertEqual(gpu, [
            (256 << 10, MIB + (256 << 10)), (512 << 10, MIB + (768 << 10)),
            (-(256 << 10), MIB + (512 << 10)), (128 << 10, MIB + (640 << 10)),
            (-(512 << 10), MIB + (128 << 10)),
            (-MIB, 128 << 10),  # allocated before the session started, still known
            (-(128 << 10), 0)])
        self.assertTrue(all(m["Device Id"] == 0 for m in mem if m["Device Type"] == 1))
        host = [(m["Bytes"], m["Total Allocated"], m["Device Id"]) for m in mem
                if m["Device Type"] == 0]
        self.assertEqual(host, [(64 << 10, 64 << 10, -1), (-(64 << 10), 0, -1)])
        counter = [e["args"]["allocated"] for e in t["traceEvents"]
                   if e.get("ph") == "C" and e["name"] == "GPU 0 memory"]
        self.assertEqual(counter, [total for _, total in gpu])
        self.assertEqual(t["omniprof"]["unknown_frees"], 0)
        self.assertEqual(t["profile_memory"], 1)

    def test_memory_events_only_with_memory(self):
        _, t = self.profile("memory_timeline")
        self.assertFalse([e for e in t["traceEvents"] if e.get("name") == "[memory]"])
        frees = [e["args"] for e in api_events(t) if e["name"] == "cuMemFree_v2"]
        self.assertEqual(len(frees), 4, "the calls themselves are still recorded")
        self.assertFalse([a for a in frees if "Bytes" in a],
                         "no allocation table: a free's size is unknown, not 0")

    def test_virtual_memory_reserves_and_maps(self):
        _, t = self.profile("memory_paths", 1, omniprof="with_memory=1")
        mem = {e["args"]["Bytes"]: e["args"] for e in t["traceEvents"]
               if e.get("name") == "[memory]" and e["args"]["Bytes"] == 2 << 20}
        self.assertTrue(mem)
        created = [e for e in t["traceEvents"] if e.get("name") == "[memory]"]
        kinds = [(m["args"]["Bytes"], m["args"]["Total Allocated"], m["args"]["Total Reserved"])
                 for m in created if abs(m["args"]["Bytes"]) == 2 << 20]
        # cuMemCreate reserves, cuMemMap makes it allocated, then the reverse
        self.assertEqual([k[0] for k in kinds], [2 << 20, 2 << 20, -(2 << 20), -(2 << 20)])
        self.assertEqual(kinds[0][2] - kinds[0][1], 2 << 20)

    # ---- shapes and names ----------------------------------------------------

    def test_shapes_equal_what_the_sample_passed(self):
        _, t = self.profile("shapes_launch", omniprof="record_shapes=true")
        by = {e["args"]["kernel"]: e["args"] for e in api_events(t) if "kernel" in e["args"]}
        plain, cluster = by["plain_kernel"], by["cluster_kernel"]
        self.assertEqual((plain["grid"], plain["block"], plain["dynamic shared memory"]),
                         ([3, 2, 1], [64, 2, 1], 512))
        self.assertNotIn("cluster", plain)
        self.assertEqual((cluster["grid"], cluster["block"], cluster["dynamic shared memory"],
                          cluster["cluster"]), ([4, 2, 1], [128, 1, 1], 1024, [2, 1, 1]))
        # the fake driver's attributes: 16 + len(name) registers, 128 * (len % 4) static
        for name, args in by.items():
            self.assertEqual(args["registers per thread"], 16 + len(name))
            self.assertEqual(args["static shared memory"], 128 * (len(name) % 4))

    def test_shapes_left_out_when_off(self):
        _, t = self.profile("shapes_launch")
        launched = {e["args"]["kernel"]: e["args"] for e in api_events(t) if "kernel" in e["args"]}
        self.assertEqual(set(launched), {"plain_kernel", "cluster_kernel"})
        for args in launched.values():
            for key in ("grid", "block", "dynamic shared memory", "cluster",
                        "registers per thread", "static shared memory"):
                self.assertNotIn(key, args)
        self.assertEqual(t["record_shapes"], 0)

    def test_hostile_names_give_valid_json_and_an_aligned_table(self):
        _, t = self.profile("hostile_names")
        kernels = per_api(t)
        expected = {"say\"hi\"": 1, "back\\slash": 2, "ctrl\x01\x1f": 3,
                    "bad\ufffd\ufffd_utf8": 4, "café_kernel": 5,
                    "vector_add(float*, float*, int)": 6, "L" * 300: 7}
        self.assertEqual({k: v for (_, k), v in kernels.items()}, expected)
        mangled = [e["args"].get("mangled name") for e in api_events(t)
                   if e["args"]["kernel"].startswith("vector_add")]
        self.assertEqual(set(mangled), {"_Z10vector_addPfS_i"})
        lines = self.table().splitlines()
        body = [l for l in lines[1:] if l.startswith(("-", " ")) or "  " in l][:-2]
        widths = {len(l) for l in lines if l.startswith("--") or "# of Calls" in l or
                  l.rstrip().endswith(tuple(f" {n}" for n in range(1, 8)))}
        self.assertEqual(len(widths), 1, f"rules, header and rows align: {widths}")
        self.assertTrue(any(l.lstrip().startswith("ctrl??") for l in lines), body)
        self.assertTrue(any("L" * 97 + "..." in l for l in lines), "long names are shortened")

    # ---- the table -------------------------------------------------------------

    def test_table_agrees_with_the_trace(self):
        _, t = self.profile("driver_loop", 12)
        table = self.table()
        rows = [l.split() for l in table.splitlines() if l.strip().startswith(("vec_add", "scale",
                                                                               "Memcpy", "Memset"))]
        calls = {}
        for cells in rows:
            name = " ".join(cells[:cells.index("-")])
            calls[name] = int(cells[-1])
        self.assertEqual(calls, {"vec_add": 12, "scale": 12, "Memcpy HtoD (Host -> Device)": 1,
                                 "Memcpy DtoH (Device -> Host)": 1, "Memset (Device)": 1})
        host = {}
        for e in api_events(t):
            key = e["args"].get("kernel") or e["args"].get("copy kind") or \
                ("Memset (Device)" if "value" in e["args"] else None)
            if key:
                host[key] = host.get(key, 0) + e["dur"]
        order = [" ".join(c[:c.index("-")]) for c in rows]
        self.assertEqual(order, sorted(host, key=lambda k: -host[k]),
                         "rows sorted by host API time, as the trace adds up")
        self.assertIn("Self CUDA time total: -", table)

    def test_table_on_stderr_at_debug(self):
        r, _ = self.profile("driver_loop", 2, omniprof="log_level=debug")
        self.assertIn("# of Calls", r.stderr)
        r = run([binary("driver_loop"), "2"], OMNIPROF=f"autostart=1,dir={self.dir}/quiet")
        self.assertNotIn("# of Calls", r.stderr)

    def test_no_table_when_not_asked(self):
        self.profile("driver_loop", 2, omniprof="dump_cuda_time_total=false")
        self.assertFalse([f for f in os.listdir(self.dir) if f.startswith("profiler_out_")])


if __name__ == "__main__":
    unittest.main()
