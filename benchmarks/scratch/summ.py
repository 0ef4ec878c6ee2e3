import sys, re
# summarise EXPLAIN ANALYZE box output: per box column, print name, rows, time
txt = sys.stdin.read()
lines = txt.splitlines()
# boxes are 29 chars wide, columns at multiples of 29
boxes = {}
for li, line in enumerate(lines):
    for m in re.finditer(r'┌─+┴?─+┐|┌─+┐', line):
        col = m.start()
        # read down until └
        content = []
        for l2 in lines[li+1:]:
            seg = l2[col:col+m.end()-m.start()]
            if seg.startswith('└'): break
            content.append(seg.strip('│ '))
        name = content[0] if content else ''
        rows = [c for c in content if 'rows' in c]
        t = [c for c in content if re.match(r'^\(?\d+\.\d+s\)?$', c)]
        print(f"{li:5d} {col//29:2d} {name:25s} {rows[-1] if rows else '':22s} {t[-1] if t else ''}")
