"""``locations``, ``quorum`` and ``central_url`` in probes.yaml: the implicit single location,
who probes what with which quorum, token variables, every error by its exact text, the docs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import Config, ConfigError, LocationConfig, ServiceConfig, parse_config
from monitor.config.locations import default_token_env

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
THREE = """\
locations:
  - {name: fra, title: Frankfurt}
  - {name: cph}
  - {name: mad, token_env: MADRID_TOKEN}
"""


def service(name: str, **keys: str) -> str:
    extra = "".join(f", {k}: {v}" for k, v in keys.items())
    return f'  - {{name: {name}, url: "http://127.0.0.1:9/{name}"{extra}}}\n'


def config(head: str = "", *services: str) -> str:
    """probes.yaml text: ``head`` (top-level keys), then the services (default: api)."""
    return textwrap.dedent(head) + "services:\n" + "".join(services or (service("api"),))


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [line.removeprefix("probes.yaml: ") for line in caught.value.problems]


def names(services: tuple[ServiceConfig, ...]) -> list[str]:
    return [s.name for s in services]


# ---- no locations: today's single location ---------------------------------------------------

def test_without_locations_there_is_one_implicit_location() -> None:
    cfg = parse_config(config("", service("api"), service("web")))
    assert (cfg.locations, cfg.quorum, cfg.central_url) == ((), None, None)
    assert cfg.location_names == ("local",)
    assert cfg.location_config("local") == LocationConfig(
        name="local", title="local", token_env="UPWATCH_TOKEN_LOCAL")
    for name in ("api", "web"):
        assert cfg.service_locations(name) == ("local",)
        assert cfg.service_quorum(name) == 1
        assert (cfg.service(name).locations, cfg.service(name).quorum) == (None, None)
    assert names(cfg.probes_here("local")) == ["api", "web"]
    assert cfg.probes_here("fra") == ()


def test_the_implicit_location_is_the_instances_own() -> None:
    cfg = parse_config(config("location: cph\n", service("api", locations="[cph]", quorum="1")))
    assert cfg.location_names == ("cph",)
    assert cfg.location_config("cph").token_env == "UPWATCH_TOKEN_CPH"
    assert cfg.service_locations("api") == ("cph",) and cfg.service_quorum("api") == 1
    assert names(cfg.probes_here("cph")) == ["api"]


def test_models_built_in_python_resolve_too() -> None:
    api = ServiceConfig(name="api", url="http://127.0.0.1:9/")
    cfg = Config(services=(api,), locations=(LocationConfig(name="fra"),
                                             LocationConfig(name="cph")))
    assert cfg.location_names == ("fra", "cph")
    assert cfg.service_quorum("api") == 2
    assert cfg.probes_here("cph") == (api,)
    built = Config.model_construct(services=(api,), location="local", locations=(), quorum=None)
    assert built.service_locations("api") == ("local",)  # resolved on first use


# ---- three locations -------------------------------------------------------------------------

def test_three_locations_majority_overrides_and_subsets() -> None:
    cfg = parse_config(config(
        "location: cph\ncentral_url: https://status.example.com/\n" + THREE,
        service("api"),
        service("web", quorum="3"),
        service("intranet", locations="[cph, fra]"),
        service("shop", locations="mad"),
        service("two", locations="[fra, cph]", quorum="1")))
    assert cfg.location_names == ("fra", "cph", "mad")
    assert cfg.location == "cph"
    assert cfg.central_url == "https://status.example.com/"
    assert [(cfg.service_locations(n), cfg.service_quorum(n)) for n in cfg.service_names] == [
        (("fra", "cph", "mad"), 2),  # a majority of three
        (("fra", "cph", "mad"), 3),  # its own
        (("cph", "fra"), 2),  # a majority of its two, in its own order
        (("mad",), 1),  # a single name is a list of one
        (("fra", "cph"), 1),
    ]
    assert names(cfg.probes_here("fra")) == ["api", "web", "intranet", "two"]
    assert names(cfg.probes_here("cph")) == ["api", "web", "intranet", "two"]
    assert names(cfg.probes_here("mad")) == ["api", "web", "shop"]
    assert cfg.probes_here("osl") == ()


def test_top_level_quorum_applies_where_the_service_has_none() -> None:
    cfg = parse_config(config("quorum: 1\n" + THREE, service("api"), service("web", quorum="3")))
    assert (cfg.service_quorum("api"), cfg.service_quorum("web")) == (1, 3)


@pytest.mark.parametrize(("n", "quorum"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4)])
def test_default_quorum_is_a_majority(n: int, quorum: int) -> None:
    head = "locations:\n" + "".join(f"  - {{name: l{i}}}\n" for i in range(n))
    cfg = parse_config(config(head))
    assert len(cfg.service_locations("api")) == n
    assert cfg.service_quorum("api") == quorum


def test_the_central_need_not_probe() -> None:
    cfg = parse_config(config("location: central\n" + THREE))
    assert "central" not in cfg.location_names
    assert cfg.probes_here(cfg.location) == ()
    with pytest.raises(KeyError, match=re.escape(
            'unknown location "central" (known locations: fra, cph, mad)')):
        cfg.location_config("central")


def test_defaults_may_set_locations_and_quorum() -> None:
    cfg = parse_config(config(THREE + "defaults: {locations: [fra, cph], quorum: 1}\n",
                              service("api"), service("web", locations="[mad]")))
    assert cfg.service_locations("api") == ("fra", "cph") and cfg.service_quorum("api") == 1
    assert cfg.service_locations("web") == ("mad",)
    assert names(cfg.probes_here("mad")) == ["web"]


def test_unknown_service_lookups() -> None:
    cfg = parse_config(config(THREE))
    with pytest.raises(KeyError, match="unknown service"):
        cfg.service_locations("apx")
    with pytest.raises(KeyError, match="unknown service"):
        cfg.service_quorum("apx")


# ---- locations and their token variables -----------------------------------------------------

@pytest.mark.parametrize(("name", "env"), [
    ("fra", "UPWATCH_TOKEN_FRA"),
    ("eu-west.1", "UPWATCH_TOKEN_EU_WEST_1"),
    ("1st_dc", "UPWATCH_TOKEN_1ST_DC"),
])
def test_token_env_default(name: str, env: str) -> None:
    assert default_token_env(name) == env
    location = parse_config(config(f"locations: [{{name: {name}}}]\n")).location_config(name)
    assert (location.title, location.token_env) == (name, env)


def test_title_and_token_env_as_given() -> None:
    cfg = parse_config(config(THREE))
    assert cfg.locations == (
        LocationConfig(name="fra", title="Frankfurt", token_env="UPWATCH_TOKEN_FRA"),
        LocationConfig(name="cph", title="cph", token_env="UPWATCH_TOKEN_CPH"),
        LocationConfig(name="mad", title="mad", token_env="MADRID_TOKEN"),
    )
    assert cfg.location_config("fra") is cfg.locations[0]


def test_locations_are_frozen_and_the_config_hashable() -> None:
    cfg = parse_config(config(THREE))
    with pytest.raises(ValidationError, match="frozen"):
        cfg.locations[0].title = "x"
    assert hash(cfg) == hash(parse_config(config(THREE)))
    assert cfg == parse_config(config(THREE))


def test_an_empty_locations_section_is_none() -> None:
    assert parse_config(config("locations:\n")).location_names == ("local",)


# ---- errors ----------------------------------------------------------------------------------

ENV_WORDS = ("expected an environment variable name of capitals, digits and _, not starting with "
             "a digit (like UPWATCH_TOKEN_FRA), got ")
ERRORS = [
    ("duplicate_location",
     config(THREE + "  - {name: fra}\n"),
     ['locations[3].name: duplicate location name "fra" (also locations[0])']),
    ("duplicate_token_env",
     config(THREE + "  - {name: osl, token_env: MADRID_TOKEN}\n"),
     ['locations[3].token_env: duplicate token_env "MADRID_TOKEN" (also locations[2]); each '
      "location pushes with its own token: set token_env on one of them"]),
    ("duplicate_default_token_env",
     config("locations: [{name: eu-1}, {name: eu_1}]\n"),
     ['locations[1].token_env: duplicate token_env "UPWATCH_TOKEN_EU_1" (also locations[0]); '
      "each location pushes with its own token: set token_env on one of them"]),
    ("lowercase_token_env",
     config("locations: [{name: fra, token_env: fra_token}]\n"),
     [f'locations[0].token_env: {ENV_WORDS}"fra_token"']),
    ("token_env_with_a_digit_first",
     config("locations: [{name: fra, token_env: 1TOKEN}]\n"),
     [f'locations[0].token_env: {ENV_WORDS}"1TOKEN"']),
    ("bad_location_name",
     config("locations: [{name: Frankfurt}]\n"),
     ['locations[0].name: must be 1-64 lowercase letters, digits, ".", "_" or "-", starting '
      'with a letter or digit, got "Frankfurt"']),
    ("location_without_a_name",
     config("locations: [{title: Frankfurt}]\n"),
     ["locations[0].name: required but missing"]),
    ("location_as_a_bare_name",
     config("locations: [fra]\n"),
     ['locations[0]: expected a mapping (name, title, token_env), got "fra"']),
    ("location_unknown_key",
     config("locations: [{name: fra, token: x}]\n"),
     ["locations[0].token: unknown key (allowed: name, title, token_env)"]),
    ("unknown_location",
     config(THREE, service("api"), service("web"), service("db"),
            service("cdn", locations="[fra, x]")),
     ['services[3].locations[1]: unknown location "x" (known locations: fra, cph, mad)']),
    ("unknown_location_close",
     config(THREE, service("api", locations="frx")),
     ['services[0].locations: unknown location "frx" (did you mean "fra"? known locations: '
      "fra, cph, mad)"]),
    ("unknown_location_without_locations",
     config("", service("api", locations="[local, fra]")),
     ['services[0].locations[1]: unknown location "fra" (known locations: local; declare it in '
      "the top-level locations list)"]),
    ("unknown_location_in_defaults",
     config(THREE + "defaults: {locations: [fra, osl]}\n", service("api"), service("web")),
     ['defaults.locations[1]: unknown location "osl" (known locations: fra, cph, mad)']),
    ("location_listed_twice",
     config(THREE, service("api", locations="[fra, cph, fra]")),
     ['services[0].locations[2]: location "fra" is listed twice (also locations[0])']),
    ("empty_service_locations",
     config(THREE, service("api", locations="[]")),
     ["services[0].locations: must name at least one location (leave locations out to probe "
      "the service from every location)"]),
    ("bad_name_in_service_locations",
     config(THREE, service("api", locations="[fra, FRA]")),
     ['services[0].locations[1]: must be 1-64 lowercase letters, digits, ".", "_" or "-", '
      'starting with a letter or digit, got "FRA"']),
    ("service_quorum_too_high",
     config(THREE, service("api", locations="[fra, cph]", quorum="3")),
     ['services[0].quorum: 3 is more than the 2 locations that probe "api" (fra, cph); lower it '
      "or add locations"]),
    ("service_quorum_above_all_locations",
     config(THREE, service("api"), service("web", quorum="4")),
     ['services[1].quorum: 4 is more than the 3 locations that probe "web" (fra, cph, mad); '
      "lower it or add locations"]),
    ("top_level_quorum_too_high",
     config("quorum: 3\n" + THREE, service("api"), service("web", locations="[fra, cph]")),
     ['quorum: 3 is more than the 2 locations that probe "web" (fra, cph); lower it or add '
      'locations, or give "web" a quorum of its own']),
    ("top_level_quorum_too_high_for_several",
     config("quorum: 2\n" + THREE, service("api", locations="mad"),
            service("web", locations="[fra]"), service("db", locations="[cph, fra]"),
            service("cdn", locations="cph")),
     ['quorum: 2 is more than the 1 location that probes "api" (mad); lower it or add '
      'locations, or give "api" a quorum of its own; also too high for "web" (1 location), '
      '"cdn" (1 location)']),
    ("top_level_quorum_without_locations",
     config("quorum: 2\n"),
     ['quorum: 2 is more than the 1 location that probes "api" (local); lower it or add '
      'locations, or give "api" a quorum of its own']),
    ("quorum_zero",
     config("quorum: 0\n" + THREE, service("api", quorum="0")),
     ["quorum: must be at least 1, got 0", "services[0].quorum: must be at least 1, got 0"]),
    ("quorum_not_whole",
     config(THREE, service("api", quorum="1.5")),
     ["services[0].quorum: expected a whole number, got 1.5"]),
    ("quorum_not_a_number",
     config('quorum: "majority"\n' + THREE),
     ['quorum: expected a whole number, got "majority"']),
    ("central_url_not_http",
     config('central_url: "ftp://status.example.com"\n'),
     ['central_url: expected an http:// or https:// URL with a host, got '
      '"ftp://status.example.com"']),
    ("locations_not_a_list",
     config("locations: {fra: {}}\n"),
     ['locations: expected a list, got {"fra": {}}']),
    ("all_problems_at_once",
     config("quorum: 3\n" + THREE, service("api", locations="[fra, x]"),
            service("web", locations="[fra, cph]", quorum="5"),
            service("db", locations="[cph, mad]"), service("web")),
     ['services[3].name: duplicate service name "web" (also services[1])',
      'services[0].locations[1]: unknown location "x" (known locations: fra, cph, mad)',
      'services[1].quorum: 5 is more than the 2 locations that probe "web" (fra, cph); lower it '
      "or add locations",
      'quorum: 3 is more than the 2 locations that probe "db" (cph, mad); lower it or add '
      'locations, or give "db" a quorum of its own']),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_error_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_the_instance_may_be_any_location() -> None:
    for location in ("fra", "central", "osl"):  # one of them or none: both are fine
        assert parse_config(config(f"location: {location}\n" + THREE)).location == location


# ---- the documentation -----------------------------------------------------------------------

def test_every_key_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## `locations` and `quorum`", 1)[1].split("\n## ", 1)[0]
    assert [k for k in LocationConfig.model_fields if f"| `{k}`" not in section] == []
    top = text.split("## Top level", 1)[1].split("\n## ", 1)[0]
    assert [k for k in ("locations", "quorum", "central_url") if f"| `{k}`" not in top] == []
    services = text.split("## `services`", 1)[1].split("\n### ", 1)[0]
    assert [k for k in ("locations", "quorum") if f"| `{k}`" not in services] == []


def test_the_documented_example_loads_as_described() -> None:
    section = DOCS.read_text(encoding="utf-8").split("## `locations` and `quorum`", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    cfg = parse_config(example.group(1))
    assert cfg.location_names == ("fra", "cph", "mad")
    assert cfg.location == "cph"
    assert cfg.location_config("mad").token_env == "MADRID_PUSH_TOKEN"
    assert cfg.location_config("fra").token_env == "UPWATCH_TOKEN_FRA"
    assert [(cfg.service_locations(n), cfg.service_quorum(n)) for n in cfg.service_names] == [
        (("fra", "cph", "mad"), 2), (("fra", "cph", "mad"), 3), (("fra", "cph"), 2),
        (("mad",), 1)]
    assert names(cfg.probes_here("cph")) == ["api", "web", "intranet"]
