#!/usr/bin/env python3
"""Writes the C arrays of tests/unit/python_tables.h for the running CPython:
the line table of one function (big and negative line deltas, long bytecode,
lines without a location) and the line of each even byte offset as the
interpreter reports it.

    for v in 3.8 3.10 3.12; do python$v tests/unit/python_tables.py; done
"""
import sys, dis
SRC = '''
def f(a, b):
    x = (a +
         b)
''' + "    y = 1\n" * 3 + "\n" * 300 + '''    z = [i
         for i in range(3)]
    if a:
        return (x,
    y)
    try:
        w = 1 / 0
    except ZeroDivisionError:
        w = 2
''' + "    q = 0\n" + "    q += 1\n" * 200 + '''    return w + q
'''
ns = {}
exec(compile(SRC, "t.py", "exec"), ns)
co = ns["f"].__code__
v = sys.version_info[:2]
if v >= (3, 10):
    table = co.co_linetable
    lines = {}
    for s, e, l in co.co_lines():
        for o in range(s, e, 2):
            lines[o] = -1 if l is None else l
    n = len(co.co_code)
    exp = [lines.get(o, -1) for o in range(0, n, 2)]
else:
    table = co.co_lnotab
    starts = list(dis.findlinestarts(co))
    n = len(co.co_code)
    exp = []
    for o in range(0, n, 2):
        l = co.co_firstlineno
        for so, sl in starts:
            if so <= o: l = sl
        exp.append(l)
name = "py%d%d" % v
print("static const unsigned char %s_table[] = {%s};" % (name, ", ".join(str(b) for b in table)))
print("static const int %s_lines[] = {%s};" % (name, ", ".join(str(x) for x in exp)))
print("static const int %s_first = %d;" % (name, co.co_firstlineno))
