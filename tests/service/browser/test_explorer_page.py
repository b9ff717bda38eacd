"""The atlas explorer in headless Chromium against the real server (issue 12's tests).

Each test opens a fresh tab, drives the page as a user would (through the ids and
``window.explorer`` of the page's contract), checks what it shows against the
service or against neuratlas in-process, and fails on any console error. A
screenshot of every step is saved in ``test-artifacts/explorer/``.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import nibabel as nib
import pytest

import neuratlas

pytestmark = pytest.mark.browser

NLIN6 = "neuratlas/space/mni152-nlin6-asym"
FSAVERAGE5 = "neuratlas/space/fsaverage5"
JUELICH = "neuratlas/parcellation/juelich-histological"
AAL1 = "neuratlas/parcellation/aal1"
DK = "neuratlas/parcellation/desikan-killiany"
# in the left inferior parietal lobule: a region of AAL, several of Juelich's maps
PARIETAL = [-30.0, -50.0, 40.0]


def query(**state: str) -> str:
    """The page's URL state (``?parcellation=...&space=...``)."""
    return "?" + urlencode(state)


def voxel_mm(space_id: str) -> list[float]:
    """The voxel size of a space's template, per axis."""
    return [
        float(z)
        for z in neuratlas.get_space(space_id).get_template().fetch().header.get_zooms()[:3]
    ]


def within(a: list[float], b: list[float], tolerance: list[float]) -> bool:
    return all(abs(x - y) <= t + 1e-6 for x, y, t in zip(a, b, tolerance, strict=True))


def click_at(explorer, view: str, point: list[float]) -> list[float]:
    """Click the mm point in a view (the page brings its slice there); the point clicked."""
    xy = explorer.page.evaluate("([v, p]) => window.explorer.worldToPage(v, p)", [view, point])
    assert xy is not None, "worldToPage answered null: no volume is shown"
    explorer.page.mouse.click(xy["x"], xy["y"])
    explorer.wait()
    return explorer.state()["coordinate"]


def selected_row(explorer):
    rows = explorer.page.locator('#region-tree [aria-selected="true"]')
    assert rows.count() == 1, f"{rows.count()} rows of the tree are selected"
    return rows.first


# --- loading ------------------------------------------------------------------------------
def test_the_page_loads_with_no_console_errors(explorer) -> None:
    explorer.open()
    explorer.shot("loaded")
    page = explorer.page
    state = explorer.state()
    assert state["atlas"] and state["space"] and state["parcellation"], state
    for select in ("#atlas-select", "#space-select", "#parcellation-select"):
        assert page.locator(f"{select} option").count() > 0, select
    assert page.locator("#view-axial").is_visible()
    assert page.locator("#region-tree [data-region-id]").count() > 0
    assert page.evaluate("window.explorer.lastRenderMs") is not None
    assert "error" not in (page.get_attribute("#status", "class") or ""), explorer.status()
    assert explorer.errors == []


# --- search and select --------------------------------------------------------------------
def test_searching_hoc1_in_juelich_selects_it_and_centres_the_view(explorer) -> None:
    explorer.open()
    page = explorer.page
    page.select_option("#parcellation-select", JUELICH)
    explorer.wait()
    explorer.shot("juelich")
    page.fill("#region-search", "hOc1")
    explorer.wait()
    explorer.shot("search")
    matches = page.locator("#region-tree [data-region-id]")
    assert matches.count() > 0, f"no region matches 'hOc1': {page.inner_text('#region-tree')}"
    first = matches.first
    region_id = first.get_attribute("data-region-id")
    # the page lists the service's own fuzzy matches, best first
    found = explorer.api("/v3_0/regions", parcellation_id=JUELICH, find="hOc1", size="100")
    assert region_id == found["items"][0]["@id"]
    first.click()
    explorer.wait()
    explorer.shot("selected")

    assert selected_row(explorer).get_attribute("data-region-id") == region_id
    state = explorer.state()
    assert (state["parcellation"], state["region"]) == (JUELICH, region_id)
    detail = explorer.api(
        f"/v3_0/regions/{quote(region_id, safe='')}",
        parcellation_id=JUELICH,
        space_id=state["space"],
    )
    centroid = detail["hasAnnotation"]["spatialProps"]["centroid_mm"]
    assert within(state["coordinate"], centroid, voxel_mm(state["space"])), (
        state["coordinate"],
        centroid,
    )
    assert page.inner_text("#region-name") == detail["name"]
    assert explorer.errors == []


# --- a click at a known point ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("parcellation", "maptype"),
    [(AAL1, "labelled"), (JUELICH, "statistical")],
    ids=["aal1-labelled", "juelich-statistical"],
)
def test_a_click_lists_the_regions_that_assign_gives(explorer, parcellation, maptype) -> None:
    explorer.open(query(space=NLIN6, parcellation=parcellation))
    explorer.shot("loaded")
    clicked = click_at(explorer, "axial", PARIETAL)
    explorer.shot("clicked")
    # a click snaps to the nearest voxel of the template in the slice
    assert within(clicked, PARIETAL, voxel_mm(NLIN6)), clicked
    page = explorer.page
    assert f"({maptype} map)" in page.inner_text("#assignments-caption")
    shown = page.eval_on_selector_all(
        "#assignments [data-region-name]", "rows => rows.map(row => row.dataset.regionName)"
    )
    the_map = neuratlas.get_map(parcellation, NLIN6, maptype)
    table = the_map.assign(neuratlas.Point(tuple(clicked), space=neuratlas.get_space(NLIN6)))
    expected = list(table["region"])
    assert expected, f"no region of {the_map.name} at {clicked}: choose another point"
    assert sorted(shown) == sorted(expected)
    assert explorer.errors == []


# --- download ---------------------------------------------------------------------------------
def test_the_download_button_yields_a_zip(explorer, tmp_path: Path) -> None:
    region = neuratlas.get_parcellation(JUELICH).get_region("hIP1 left")
    explorer.open(query(space=NLIN6, parcellation=JUELICH, region=region.id))
    explorer.shot("region")
    page = explorer.page
    assert page.inner_text("#region-name") == region.name
    assert "atlas_download" in (page.get_attribute("#download-button", "href") or "")
    with page.expect_download(timeout=300_000) as info:
        page.click("#download-button")
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename.endswith(".zip")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    explorer.shot("downloaded")
    with zipfile.ZipFile(path) as bundle:
        assert bundle.testzip() is None
        names = bundle.namelist()
        assert "README.md" in names, names
        assert bundle.read("README.md").strip()
        images = [name for name in names if name.endswith(".nii.gz")]
        assert images, names
        for name in images:
            image = nib.Nifti1Image.from_bytes(gzip.decompress(bundle.read(name)))
            assert len(image.shape) >= 3, name
    assert explorer.errors == []


# --- the URL keeps the view -----------------------------------------------------------------
def test_the_url_keeps_the_state_across_a_reload(explorer) -> None:
    explorer.open(query(space=NLIN6, parcellation=JUELICH))
    page = explorer.page
    page.fill("#region-search", "hIP1")
    explorer.wait()
    page.locator("#region-tree [data-region-id]").first.click()
    explorer.wait()
    clicked = click_at(explorer, "coronal", [-40.0, -50.0, 30.0])
    explorer.shot("before")
    before = explorer.state()
    assert before["region"]

    saved = {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}
    assert saved["region"] == before["region"]
    assert saved["parcellation"] == JUELICH
    assert saved["space"] == NLIN6
    assert within([float(v) for v in saved["coord"].split(",")], clicked, [0.01] * 3)

    page.reload()
    explorer.wait()
    explorer.shot("reloaded")
    after = explorer.state()
    for key in ("atlas", "space", "parcellation", "region"):
        assert after[key] == before[key], key
    assert within(after["coordinate"], before["coordinate"], [0.01] * 3)
    assert selected_row(explorer).get_attribute("data-region-id") == before["region"]
    assert explorer.errors == []


# --- a surface space ----------------------------------------------------------------------------
def test_a_surface_space_shows_the_mesh_with_its_labels(explorer) -> None:
    explorer.open()
    page = explorer.page
    page.select_option("#space-select", FSAVERAGE5)
    explorer.wait()
    if explorer.state()["parcellation"] != DK:
        page.select_option("#parcellation-select", DK)
        explorer.wait()
    page.evaluate("window.explorer.surface.ready")
    explorer.shot("surface")
    state = explorer.state()
    assert (state["space"], state["parcellation"]) == (FSAVERAGE5, DK)
    assert page.locator("#surface-view").is_visible()
    assert page.locator("#view-axial").is_hidden()
    assert page.evaluate("window.explorer.surface.labelsShown") > 30
    page.evaluate("window.explorer.surface.rotate(0.6, 0.2)")
    page.evaluate("window.explorer.surface.zoom(1.3)")
    page.wait_for_timeout(100)
    explorer.shot("rotated")
    assert explorer.errors == []
