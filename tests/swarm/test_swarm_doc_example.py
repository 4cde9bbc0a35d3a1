"""docs/swarm.md's example runs as written on the bed (under a name of the test's own)."""

from __future__ import annotations

import re

from tests.swarm.conftest import REPO, SwarmStack


def test_the_swarm_doc_example_runs(swarm_stack: SwarmStack) -> None:
    doc = (REPO / "docs" / "swarm.md").read_text(encoding="utf-8")
    section = doc.split("## By example", 1)[1]
    toml = re.search(r"```toml\n(.*?)```", section, flags=re.S)
    assert toml is not None
    body = toml.group(1).replace('name = "shop"', f'name = "{swarm_stack.name}"')
    swarm_stack.file.write_text(body, encoding="utf-8")
    swarm_stack.apply()
    assert swarm_stack.nodes_of("web") == ["s1", "s1", "s2", "s2", "s3", "s3"]
    assert swarm_stack.run("drift", str(swarm_stack.file)).code == 0
    assert swarm_stack.plan().code == 0
