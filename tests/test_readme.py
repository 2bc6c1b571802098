"""The README's reading order of the core: every file it names exists, and its line counts are current."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _reading_order():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Reading the core"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows = re.findall(r"^\| \d+ \| `([^`]+)` \| (\d+) \|", section, re.M)
    waits = re.findall(r"`(minissl/[\w/]+\.py)` \((\d+) lines\)", section)
    total = re.search(r"About ([\d,]+) lines in all", section)
    return rows, waits, int(total.group(1).replace(",", "")) if total else None


def test_reading_order_line_counts_are_within_15_percent_of_the_files():
    rows, waits, total = _reading_order()
    assert len(rows) >= 6 and len(waits) == 2 and total, "the README's reading-order table was not found"
    actual = {path: len((ROOT / path).read_text().splitlines()) for path, _ in rows + waits}
    stale = {p: (int(n), actual[p]) for p, n in rows + waits if abs(int(n) - actual[p]) > 0.15 * actual[p]}
    assert not stale, f"README reading order: (stated, actual) line counts differ by over 15%: {stale}; update it"
    read = sum(actual[p] for p, _ in rows)
    assert abs(total - read) <= 0.15 * read, f"README says about {total} lines in all, the files have {read}"


def _readme_tables():
    import importlib.util
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_speed_tables_are_the_ones_results_md_gives():
    rt = _readme_tables()
    have = rt.current((ROOT / "README.md").read_text(encoding="utf-8"))
    want = rt.region((ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8"))
    assert have == want, "README.md's speed tables are stale; run python benchmarks/readme_tables.py"


def test_readme_gpu_table_is_the_one_results_md_gives_or_says_there_is_none():
    rt = _readme_tables()
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    have = rt.current((ROOT / "README.md").read_text(encoding="utf-8"), rt.GPU_BEGIN, rt.GPU_END)
    assert have == rt.gpu_region(results), "README.md's GPU table is stale; run python benchmarks/readme_tables.py"
    rows = rt.tables(results).get(rt.GPU_SECTION)
    if rows:  # a changed ratio reaches the README
        ratio = rows[0]["ratio (target ≤ 2)"]
        assert "| 9.99 |" in rt.gpu_region(results.replace(ratio, "**9.99**", 1))
    heading = "## " + rt.GPU_SECTION
    pending = results[:results.index(heading)] + heading + "\n\n**Pending**: no GPU yet.\n\n" + \
        results[results.index("## Reading the numbers"):]
    assert "No GPU measurement yet" in rt.gpu_region(pending) and "|" not in rt.gpu_region(pending)


def test_a_changed_result_changes_the_readme_region():
    rt = _readme_tables()
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    row = next(r for r in rt.tables(results)["Training steps (forward + backward + AdamW; Adam for the CNN)"])
    changed = results.replace(f"**{row['time ratio'].strip('*')}**", "**9.99**", 1)
    assert "| 9.99 |" in rt.region(changed) and rt.region(changed) != rt.region(results)


def test_a_step_table_measured_alone_says_when_in_the_readme():
    rt = _readme_tables()
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    alone = "*This section alone was measured on 2031-01-02 03:04 (`x`), 1 thread(s), load average at the start 1.0, " \
            "clock: wall time.*"
    lines = [x for x in results.splitlines() if not x.startswith("*This section alone")]
    i = lines.index("## Training steps (forward + backward + AdamW; Adam for the CNN)")
    patched = "\n".join(lines[:i + 1] + ["", alone] + lines[i + 1:])
    assert "The training steps: 2031-01-02 03:04, clock wall time." in rt.region(patched)
    assert "The training steps:" not in rt.region("\n".join(lines))
