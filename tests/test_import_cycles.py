"""The package's import graph: no module imports one that imports it back at load time.

Edges come from the ``import`` statements of every module under ``minissl/`` (read with
``ast``, nothing is executed). Imports written inside functions run later, on first use;
the cycles they close are listed below with the reason each is there, so a new one fails.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "minissl"

# Cycles closed only by imports inside functions, and why each is there.
LAZY_CYCLES = {
    # Tensor's operators call the ops, and the ops build Tensors (as in DeZero and tinygrad).
    frozenset({"minissl.tensor", "minissl.ops.math", "minissl.ops.shape", "minissl.devices"}),
    # from_pretrained/save_pretrained open either format: the Hugging Face one is read by hf_*.py.
    frozenset({"minissl.models.bert", "minissl.models.hf_bert"}),
    frozenset({"minissl.models.gpt", "minissl.models.hf_gpt"}),
}


def modules():
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def graph(top_level_only):
    mods = modules()
    g = {m: set() for m in mods}
    for m, p in mods.items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        package = m.split(".") if p.name == "__init__.py" else m.split(".")[:-1]
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module] if node.module else
                                package[:len(package) - node.level + 1]) if node.level else node.module
                names = [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for t in names:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    g[m].add(t)
    return g


def cycles(g):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))
    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_at_load_time():
    assert cycles(graph(top_level_only=True)) == []


def test_cycles_through_function_imports_are_the_listed_ones():
    assert set(cycles(graph(top_level_only=False))) == LAZY_CYCLES


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
