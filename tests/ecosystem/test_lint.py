"""`ansible-lint --profile production` passes on the repository (roles, playbooks, molecule, meta; see .ansible-lint)."""


def test_ansible_lint_production_profile_passes(run_tool, repo_root, tmp_path):
    result = run_tool(["ansible-lint", "--profile", "production", "--nocolor", "--offline"], cwd=repo_root,
                      env={"NO_COLOR": "1", "ANSIBLE_COLLECTIONS_PATH": str(repo_root / ".tmp" / "collections"),
                           "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.explain()
    assert "Profile 'production' was required, and it passed" in result.output, result.explain()


def test_changelog_fragments_lint(run_tool, repo_root):
    result = run_tool(["antsibull-changelog", "lint"], cwd=repo_root)
    assert result.returncode == 0 and result.output.strip() == "", result.explain()
