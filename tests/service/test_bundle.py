"""Download bundles (service/bundle.py) on the embedded catalogue."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.errors import AmbiguousError, DataUnavailableError, NotFoundError
from neuratlas.service import bundle
from neuratlas.service.bundle import build_bundle
from neuratlas.volumes.surfaces import Mesh
from tests.features.toy_features import only_sources
from tests.features.toy_features import toy_features as make_toy_features

SPACE = "MNI152 NLin6 asym"
SURFACE = "fsaverage5"
HEMISPHERES = ("left", "right")


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # each test starts without bundles, so that builds can be counted
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[bundle.BundleRequest]:
    """The requests for which a bundle was actually written."""
    seen: list[bundle.BundleRequest] = []
    write = bundle._write

    def counting(request: bundle.BundleRequest, target: Path) -> bundle._Writer:
        seen.append(request)
        return write(request, target)

    monkeypatch.setattr(bundle, "_write", counting)
    return seen


def read_nifti(archive: zipfile.ZipFile, name: str) -> nib.Nifti1Image:
    # the parts are gzipped NIfTI files, as a user gets them after unzipping
    return nib.Nifti1Image.from_bytes(gzip.decompress(archive.read(name)))


def assert_same_image(got: nib.Nifti1Image, expected: nib.Nifti1Image) -> None:
    np.testing.assert_array_equal(np.asanyarray(got.dataobj), np.asanyarray(expected.dataobj))
    np.testing.assert_allclose(got.affine, expected.affine)


def read_gifti(archive: zipfile.ZipFile, name: str) -> nib.gifti.GiftiImage:
    return nib.GiftiImage.from_bytes(archive.read(name))


def assert_same_mesh(got: nib.gifti.GiftiImage, expected: Mesh, hemisphere: str) -> None:
    np.testing.assert_array_equal(got.agg_data("NIFTI_INTENT_POINTSET"), expected.vertices)
    np.testing.assert_array_equal(got.agg_data("NIFTI_INTENT_TRIANGLE"), expected.faces)
    structure = {"left": "CortexLeft", "right": "CortexRight"}[hemisphere]
    assert got.darrays[0].meta["AnatomicalStructurePrimary"] == structure


def label_colours(gii: nib.gifti.GiftiImage) -> dict[int, tuple[int, int, int]]:
    """The colours of the labels of a label file, as 0..255 RGB."""
    return {
        lab.key: tuple(round(c * 255) for c in (lab.red, lab.green, lab.blue))
        for lab in gii.labeltable.labels
    }


def test_parcellation_bundle_holds_the_template_and_the_labelled_map() -> None:
    space = neuratlas.get_space(SPACE)
    parc = neuratlas.get_parcellation("aal3")
    path = build_bundle(SPACE, "aal3")

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(
            [
                "README.md",
                "LICENCE.txt",
                f"{space.key}.nii.gz",
                f"{space.key}.info.md",
                f"{parc.key}.nii.gz",
                f"{parc.key}.info.md",
            ]
        )
        assert_same_image(read_nifti(archive, f"{space.key}.nii.gz"), space.get_template().fetch())
        labelled = neuratlas.get_map("aal3", SPACE, "labelled")
        assert_same_image(read_nifti(archive, f"{parc.key}.nii.gz"), labelled.fetch())
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
        readme = archive.read("README.md").decode()
        licence = archive.read("LICENCE.txt").decode()
        info = archive.read(f"{parc.key}.info.md").decode()
    # NIfTI parts are gzip already: stored; text is deflated
    assert kinds[f"{parc.key}.nii.gz"] == zipfile.ZIP_STORED
    assert kinds["README.md"] == zipfile.ZIP_DEFLATED
    assert neuratlas.__version__ in readme
    assert space.id in readme and parc.id in readme and "- region:" not in readme
    assert space.source.licence in licence and parc.source.licence in licence
    assert space.source.url in licence
    assert parc.name in info and parc.description in info
    assert parc.publications[0].citation in info


@pytest.mark.slow  # decodes the 121 Juelich probability maps once per process
def test_region_bundle_holds_its_statistical_map() -> None:
    region = neuratlas.get_region("juelich", "hIP1 left")
    path = build_bundle("nlin6", "juelich", "hIP1 left")

    with zipfile.ZipFile(path) as archive:
        assert f"{region.key}.info.md" in archive.namelist()
        assert neuratlas.get_parcellation("juelich").key + ".nii.gz" not in archive.namelist()
        expected = neuratlas.get_map("juelich", SPACE, "statistical").fetch(region=region)
        got = read_nifti(archive, f"{region.key}.nii.gz")
        readme = archive.read("README.md").decode()
    assert got.get_data_dtype() == np.float32
    assert_same_image(got, expected)
    assert region.id in readme


def test_region_without_a_statistical_map_gets_its_labelled_mask() -> None:
    space = "mni152 2009c"
    region = neuratlas.get_region("desikan", "precentral left")
    path = build_bundle(space, "desikan", "precentral left")

    with zipfile.ZipFile(path) as archive:
        got = read_nifti(archive, f"{region.key}.nii.gz")
        template = read_nifti(archive, f"{neuratlas.get_space(space).key}.nii.gz")
    expected = neuratlas.get_map("desikan", space, "labelled").fetch(region=region)
    assert_same_image(got, expected)
    assert set(np.unique(np.asanyarray(got.dataobj))) == {0, 1}
    assert_same_image(template, neuratlas.get_space(space).get_template().fetch())


def test_a_failing_part_becomes_an_error_file_and_is_rebuilt_later(
    monkeypatch: pytest.MonkeyPatch, builds: list
) -> None:
    space = neuratlas.get_space(SPACE)
    template = space.get_template()

    def offline() -> None:
        raise DataUnavailableError("the template is not downloaded", hint="go online")

    with monkeypatch.context() as patched:
        patched.setattr(template, "fetch", offline)
        path = build_bundle(SPACE, "aal3")

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        error = archive.read(f"{space.key}.nii.gz.error.txt").decode()
        parc_key = neuratlas.get_parcellation("aal3").key
        assert f"{parc_key}.nii.gz" in names  # the other parts are there
    assert f"{space.key}.nii.gz" not in names
    assert f"{space.key}.info.md" in names
    assert "the template is not downloaded" in error and "go online" in error
    # data that may come later: the bundle is not reused
    again = build_bundle(SPACE, "aal3")
    assert again != path and len(builds) == 2
    with zipfile.ZipFile(again) as archive:
        assert f"{space.key}.nii.gz" in archive.namelist()


def test_an_unexpected_failure_still_gives_a_valid_zip(monkeypatch: pytest.MonkeyPatch) -> None:
    space = neuratlas.get_space(SPACE)

    def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(space.get_template(), "fetch", broken)
    path = build_bundle(SPACE, "aal3")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        error = archive.read(f"{space.key}.nii.gz.error.txt").decode()
    assert "RuntimeError" in error and "disk on fire" in error
    assert path.name.endswith(".partial.zip")


def test_identical_requests_reuse_the_bundle(builds: list) -> None:
    first = build_bundle(SPACE, "aal3")
    content = first.read_bytes()
    old = first.stat().st_mtime - 3600
    os.utime(first, (old, old))

    again = build_bundle(SPACE, "aal3")

    assert again == first and len(builds) == 1
    # the README keeps the time the bundle was made; reuse counts as a use for the LRU
    assert again.read_bytes() == content
    assert again.stat().st_mtime > old


def test_aliases_of_the_same_objects_hit_the_same_bundle(builds: list) -> None:
    space = neuratlas.get_space(SPACE)
    parc = neuratlas.get_parcellation("aal3")
    first = build_bundle("nlin6", "aal3", "precentral left")
    region = parc.get_region("precentral left")

    assert build_bundle(space.id, parc.id, region.id) == first
    assert build_bundle(space.name, parc.name, region.name) == first
    assert len(builds) == 1
    assert build_bundle("nlin6", "aal3") != first  # another request, another bundle


@pytest.fixture
def toy_features() -> Iterator[None]:
    with only_sources(toy=make_toy_features):
        yield


@pytest.mark.usefixtures("toy_features")
def test_a_feature_id_adds_the_features_export() -> None:
    path = build_bundle(SPACE, "aal3", feature_id="toy/fc/schaefer-100-7")
    with zipfile.ZipFile(path) as archive:
        inner = archive.read("export-toy_fc_schaefer-100-7.zip")
        readme = archive.read("README.md").decode()
        assert not any(n.endswith(".error.txt") for n in archive.namelist())
    with zipfile.ZipFile(io.BytesIO(inner)) as export:
        assert sorted(export.namelist()) == ["matrix.csv", "metadata.json"]
        assert json.loads(export.read("metadata.json"))["id"] == "toy/fc/schaefer-100-7"
    assert "toy/fc/schaefer-100-7" in readme
    assert path != build_bundle(SPACE, "aal3")


@pytest.mark.usefixtures("toy_features")
def test_an_unknown_feature_id_gives_the_documented_error_part(builds: list) -> None:
    path = build_bundle(SPACE, "aal3", feature_id="toy/fc/no-such")
    with zipfile.ZipFile(path) as archive:
        note = archive.read("toy_fc_no-such.error.txt").decode()
        names = archive.namelist()
    assert note.startswith("Feature exporting failed: no feature has the id 'toy/fc/no-such'")
    assert "hint: did you mean" in note
    assert any(n.endswith(".nii.gz") for n in names)
    # the id may become known (a live feature): such a bundle is not reused
    build_bundle(SPACE, "aal3", feature_id="toy/fc/no-such")
    assert len(builds) == 2


def test_feature_file_stems_are_safe_names() -> None:
    assert bundle.feature_file_stem("toy/fc/a b:c") == "toy_fc_a_b_c"
    assert bundle.feature_file_stem("https://x.org/f/1") == "https_x.org_f_1"
    assert bundle.feature_file_stem("//") == "feature"


# --- surface spaces ------------------------------------------------------------------------------
def test_a_surface_bundle_holds_a_gifti_mesh_and_label_file_per_hemisphere(builds: list) -> None:
    space = neuratlas.get_space(SURFACE)
    parc = neuratlas.get_parcellation("desikan")
    the_map = neuratlas.get_map("desikan", SURFACE, "labelled")
    path = build_bundle(SURFACE, "desikan")

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(
            [
                "README.md",
                "LICENCE.txt",
                f"{space.key}.info.md",
                f"{parc.key}.info.md",
                *(f"{space.key}_{hemi}.surf.gii" for hemi in HEMISPHERES),
                *(f"{parc.key}_{hemi}.label.gii" for hemi in HEMISPHERES),
            ]
        )
        meshes = {
            hemi: read_gifti(archive, f"{space.key}_{hemi}.surf.gii") for hemi in HEMISPHERES
        }
        labels = {
            hemi: read_gifti(archive, f"{parc.key}_{hemi}.label.gii") for hemi in HEMISPHERES
        }
        readme = archive.read("README.md").decode()
        licence = archive.read("LICENCE.txt").decode()
        info = archive.read(f"{parc.key}.info.md").decode()
        kinds = {i.filename: i.compress_type for i in archive.infolist()}

    template = space.get_template().fetch().split()
    assert list(template) == list(HEMISPHERES)
    expected = the_map.fetch().split()
    for hemi in HEMISPHERES:
        assert_same_mesh(meshes[hemi], template[hemi], hemi)
        gii = labels[hemi]
        assert gii.darrays[0].intent == nib.nifti1.intent_codes["NIFTI_INTENT_LABEL"]
        np.testing.assert_array_equal(gii.darrays[0].data, expected[hemi].labels)
        assert (
            gii.meta["AnatomicalStructurePrimary"]
            == meshes[hemi].darrays[0].meta["AnatomicalStructurePrimary"]
        )
        # the table names each region of the hemisphere by its label, with its colour
        table = gii.labeltable.get_labels_as_dict()
        assert set(table) == set(np.unique(expected[hemi].labels).tolist())
        for label, name in table.items():
            if label == 0:
                assert name == "unknown"
                continue
            region = the_map.get_region(label)
            assert name == region.name and name.endswith(f"{hemi} hemisphere")
            assert label_colours(gii)[label] == tuple(region.rgb)
    # text parts compress; the GIfTI parts (base64 text) too
    assert kinds[f"{space.key}_left.surf.gii"] == zipfile.ZIP_DEFLATED
    assert f"{space.key}_<hemisphere>.surf.gii" in readme
    assert f"{parc.key}_<hemisphere>.label.gii" in readme and "`left` or `right`" in readme
    assert ".nii.gz" not in readme
    for hemi in HEMISPHERES:
        assert f"{space.key}_{hemi}.surf.gii" in licence
        assert f"{parc.key}_{hemi}.label.gii" in licence
    assert space.source.licence in licence and parc.source.licence in licence
    assert parc.name in info and parc.publications[0].citation in info
    # a complete bundle is reused
    assert build_bundle(SURFACE, "desikan") == path and len(builds) == 1


@pytest.mark.parametrize("name", ["precentral left", "precentral"])
def test_a_surface_region_bundle_holds_its_mask_per_hemisphere(name: str) -> None:
    space = neuratlas.get_space(SURFACE)
    region = neuratlas.get_region("desikan", name)
    the_map = neuratlas.get_map("desikan", SURFACE, "labelled")
    path = build_bundle(SURFACE, "desikan", name)

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        masks = {
            hemi: read_gifti(archive, f"{region.key}_{hemi}.label.gii") for hemi in HEMISPHERES
        }
        template = {
            hemi: read_gifti(archive, f"{space.key}_{hemi}.surf.gii") for hemi in HEMISPHERES
        }
        readme = archive.read("README.md").decode()
        licence = archive.read("LICENCE.txt").decode()
        info = archive.read(f"{region.key}.info.md").decode()
    assert not [n for n in names if n.endswith(".error.txt")]
    assert f"{the_map.parcellation.key}_left.label.gii" not in names
    expected = the_map.fetch_mask(region).split()
    meshes = space.get_template().fetch().split()
    for hemi in HEMISPHERES:
        np.testing.assert_array_equal(masks[hemi].darrays[0].data, expected[hemi].labels)
        assert set(np.unique(masks[hemi].darrays[0].data)) <= {0, 1}
        assert masks[hemi].labeltable.get_labels_as_dict() == {0: "unknown", 1: region.name}
        assert label_colours(masks[hemi])[1] == tuple(region.rgb)
        assert_same_mesh(template[hemi], meshes[hemi], hemi)
        assert f"{region.key}_{hemi}.label.gii" in licence
    # a left region lies on the left mesh only; its parent on both
    covered = {hemi for hemi in HEMISPHERES if masks[hemi].darrays[0].data.any()}
    assert covered == ({"left"} if region.is_leaf else set(HEMISPHERES))
    assert f"{region.key}_<hemisphere>.label.gii" in readme and "mask" in readme
    assert region.name in info


def test_a_failing_surface_part_becomes_an_error_file(
    monkeypatch: pytest.MonkeyPatch, builds: list
) -> None:
    space = neuratlas.get_space(SURFACE)
    parc = neuratlas.get_parcellation("desikan")
    template = space.get_template()

    def offline(**kwargs: object) -> None:
        raise DataUnavailableError("the mesh is not downloaded", hint="go online")

    with monkeypatch.context() as patched:
        patched.setattr(template, "fetch", offline)  # the map's labels sit on the same mesh
        path = build_bundle(SURFACE, "desikan")

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        error = archive.read(f"{space.key}.surf.gii.error.txt").decode()
        licence = archive.read("LICENCE.txt").decode()
    assert f"{parc.key}.label.gii.error.txt" in names
    assert not [n for n in names if n.endswith(".gii")]
    assert f"{space.key}.info.md" in names and f"{parc.key}.info.md" in names
    assert "the mesh is not downloaded" in error and "go online" in error
    assert f"{space.key}.surf.gii" in licence
    # data that may come later: the bundle is not reused
    again = build_bundle(SURFACE, "desikan")
    assert again != path and len(builds) == 2
    with zipfile.ZipFile(again) as archive:
        assert f"{space.key}_left.surf.gii" in archive.namelist()


def test_a_surface_parcellation_without_a_map_in_the_space_gives_a_reusable_error_part(
    builds: list,
) -> None:
    path = build_bundle(SURFACE, "aal3")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        error = archive.read("AAL3.label.gii.error.txt").decode()
    assert "fsaverage5" in error
    assert {f"{neuratlas.get_space(SURFACE).key}_{hemi}.surf.gii" for hemi in HEMISPHERES} <= set(
        names
    )
    # a lookup that fails now fails every time: no point in rebuilding
    assert build_bundle(SURFACE, "aal3") == path and len(builds) == 1


def test_the_bundle_layout_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    request = bundle.resolve_request(SURFACE, "desikan")
    before = request.key
    monkeypatch.setattr(bundle, "BUNDLE_LAYOUT", bundle.BUNDLE_LAYOUT + 1)
    assert request.key != before


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("no such space", "aal3"), NotFoundError),
        ((SPACE, "no such parcellation"), NotFoundError),
        ((SPACE, "aal3", "no such region"), NotFoundError),
        ((SPACE, "harvard"), AmbiguousError),
    ],
)
def test_bad_ids_raise_before_any_work(args: tuple, error: type, fresh_cache: Path) -> None:
    with pytest.raises(error) as raised:
        build_bundle(*args)
    details = raised.value.suggestions if error is NotFoundError else raised.value.candidates
    assert details
    assert not (fresh_cache / bundle.BUNDLE_AREA).exists()


def test_the_cache_cap_evicts_old_bundles_but_not_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", "1e-9")  # about one byte
    first = build_bundle(SPACE, "aal3")
    second = build_bundle(SPACE, "aal2")
    assert not first.exists()
    assert second.exists()
    with zipfile.ZipFile(io.BytesIO(second.read_bytes())) as archive:
        assert archive.testzip() is None
