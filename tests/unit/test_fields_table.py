"""Every field of the container schema has a place in the planner's effect table."""

from __future__ import annotations

from hostform.declare.schema import ContainerSpec, JobSpec
from hostform.plans.fields import FIELD_EFFECTS, IN_PLACE, Effect, effect_of


def test_every_schema_field_is_classified() -> None:
    for model in (ContainerSpec, JobSpec):
        missing = set(model.model_fields) - set(FIELD_EFFECTS)
        assert not missing, f"fields with no entry in plans/fields.py FIELD_EFFECTS: {sorted(missing)}"


def test_table_names_no_unknown_field() -> None:
    assert set(FIELD_EFFECTS) <= set(ContainerSpec.model_fields)


def test_in_place_fields_are_the_engines_updatable_ones() -> None:
    # and `route`, which changes the edge proxy, not the container
    assert set(IN_PLACE) == {"restart", "memory", "memory_reservation", "cpus", "pids_limit", "networks", "route"}


def test_nested_paths_take_their_top_field() -> None:
    assert effect_of("env.FOO") is Effect.REPLACE
    assert effect_of("files[/etc/a.conf].sha256") is Effect.REPLACE
    assert effect_of("healthcheck.interval") is Effect.REPLACE
    assert effect_of("memory") is Effect.UPDATE
