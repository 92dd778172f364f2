"""`ansible-test sanity` passes with no ignore file (tools/sanity.py copies the tree and runs it offline)."""
import sys


def test_no_sanity_ignore_files(repo_root):
    ignore_files = sorted(p.name for p in (repo_root / "tests" / "sanity").glob("ignore-*.txt"))
    assert ignore_files == [], "sanity must pass without ignore files"


def test_ansible_test_sanity_passes(run_tool, repo_root):
    result = run_tool([sys.executable, repo_root / "tools" / "sanity.py"])
    assert result.returncode == 0, result.explain()
    # the gate is only meaningful if the tests that matter actually ran
    for test in ('"import" on Python', '"validate-modules"', '"pylint"', '"ansible-doc"'):
        assert f"Running sanity test {test}" in result.output, result.explain()
