"""Branding from probes.yaml: site.logo, favicon, custom_css and accent_color, checked when the
config loads and copied into every build."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_statuspage_sample import sample_page

from monitor.config import ConfigError, load_config
from statuspage.render import BuildError, build_site

LOGO = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
        '<rect width="40" height="40"/></svg>')


def brand(tmp_path: Path) -> Path:
    (tmp_path / "brand").mkdir()
    (tmp_path / "brand" / "logo.svg").write_text(LOGO)
    (tmp_path / "brand" / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "brand" / "status.css").write_text(".top h1 { letter-spacing: .05em; }\n")
    config = tmp_path / "probes.yaml"
    config.write_text(
        "site:\n  title: Acme status\n  logo: brand/logo.svg\n  favicon: brand/icon.png\n"
        "  custom_css: brand/status.css\n  accent_color: '#0b5cad'\n"
        "services:\n  - {name: api, url: 'https://api.example.com/'}\n")
    return config


def test_the_files_are_found_beside_probes_yaml(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = brand(tmp_path)
    monkeypatch.chdir("/")  # relative to the file's folder, not the working directory
    site = load_config(config).site
    assert site.logo == str(tmp_path / "brand" / "logo.svg")
    assert site.custom_css == str(tmp_path / "brand" / "status.css")
    assert site.accent_color == "#0b5cad"


@pytest.mark.parametrize(("yaml", "message"), [
    ("logo: brand/missing.svg", "site.logo: file not found: brand/missing.svg (relative to "),
    ("logo: brand/logo.gif", 'site.logo: expected a .svg, .png, .jpg, .jpeg, .webp file, got '
                             '"brand/logo.gif"'),
    ("custom_css: brand/status.txt", 'site.custom_css: expected a .css file, got '
                                     '"brand/status.txt"'),
    ("accent_color: red", 'site.accent_color: expected a colour as "#rrggbb" or "#rgb", got '
                          '"red"'),
    ("accent_color: '#12345'", 'site.accent_color: expected a colour as "#rrggbb" or "#rgb"'),
    ("favicon: brand/huge.ico", "site.favicon: brand/huge.ico is larger than 1 MiB"),
], ids=["missing", "logo-kind", "css-kind", "colour-name", "colour-digits", "too-large"])
def test_a_wrong_branding_key_is_named(tmp_path: Path, yaml: str, message: str) -> None:
    config = brand(tmp_path)
    (tmp_path / "brand" / "huge.ico").write_bytes(b"\0" * (1_048_576 + 1))
    config.write_text(f"site:\n  {yaml}\nservices:\n  - {{name: api, url: 'https://a.test/'}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert any(message in line for line in err.value.problems), err.value.problems


def test_a_build_copies_and_links_them(tmp_path: Path) -> None:
    site = load_config(brand(tmp_path)).site
    page = sample_page()
    page = replace(page, site=replace(
        page.site, files=tuple((k, v) for k, v in site.files.items() if v is not None),
        accent_color=site.accent_color))
    out = tmp_path / "site"
    build_site(page, out)
    assert (out / "static" / "brand" / "logo.svg").read_text() == LOGO
    assert (out / "static" / "brand" / "favicon.png").is_file()
    html = (out / "index.html").read_text()
    assert '<img src="static/brand/logo.svg?v=' in html and 'alt="Example status"' in html
    assert html.index("static/style.css") < html.index("static/brand/custom_css.css")
    assert '<link rel="icon" href="static/brand/favicon.png?v=' in html
    assert ":root { --accent: #0b5cad; }" in html
    embed = (out / "embed" / "api.html").read_text()
    assert 'href="../static/brand/custom_css.css?v=' in embed
    (tmp_path / "brand" / "logo.svg").unlink()
    with pytest.raises(BuildError, match="site.logo: file not found: .*logo.svg"):
        build_site(page, out)
    assert (out / "static" / "brand" / "logo.svg").is_file()  # the published site is kept
