"""Rebuild the extra green / cyan / blue training images (issue 20).

Downloads the named Debian packages at pinned versions, extracts them into a
cache, takes the files on an explicit allow-list (each one chosen by eye on
contact sheets: photo-derived textures of forest, hedges, water, sea and sky,
and real photographs of landscapes, trees, grass, flowers, animals, sea and
sky), screens them as ``shared/data/scenes/README.md`` describes, drops duplicates
among themselves and of any image in ``shared/data``, and writes sRGB JPEGs
plus ``MANIFEST.csv`` into a flat output folder.

Usage:
    python train/gather_extra_data.py OUT_DIR [--cache DIR]
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms
from skimage.color import rgb2lab

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HAMMING_MAX = 6
MAX_SIDE = 768

FG = "usr/share/games/flightgear/"
STK = "usr/share/games/supertuxkart/data/"
ZAD = "usr/share/games/0ad/mods/public/public.zip"
MATE = "usr/share/backgrounds/mate/nature/"
LLNG = "usr/share/lemonldap-ng/portal/htdocs/static/common/backgrounds/"
BUDGIE = "usr/share/pixmaps/budgie-faces/"
TDIARY = "usr/share/tdiary/theme/"
PTB = "usr/share/psychtoolbox-3/"

# Looked at on contact sheets and left out (the candidates were every file of
# these packages with mean hue 135-270 and chroma >= 5 not already in
# shared/data; for the photograph packages from budgie-control-center-data on,
# every image of at least 128 px in them); the reasons, so that nobody has to
# look again.
REJECTED_BY_EYE = {
    "flightgear-data-base": "Textures/Terrain *-hires, water*: duplicates of shared/data or "
    "flat fills; Scenery/Models SwimmingPool (UV atlas), Embankment (flat), buildings, "
    "hangars, signs",
    "flightgear-data-models": "CG-57.jpg (a render of the ship model); liveries, buildings, UI",
    "supertuxkart-data": "skyboxes (rendered), seabed.jpg and mossy_stone.png (painted look), "
    "sea2/jungleWater/island_water/swamp_water/overworld sea (flat fills), icons, karts, UI",
    "trigger-rally-data": "skies (procedural clouds), water (gray), vegetation sprites (alpha), "
    "maps (colour maps, minimaps, screenshots)",
    "0ad-data": "tropic_ocean_coral (processed), polar_ice_cracked (drawn cracks), skies "
    "(their faces are already in shared/data as crops)",
    "redeclipse-data, nexuiz-textures, cube2-data, ufoai-textures": "rendered skyboxes, "
    "sci-fi panels, tiles, signs",
    "scorched3d-data": "clouds and water (procedural), rendered skyboxes",
    "plasma-workspace-wallpapers": "the unused wallpapers are drawn/rendered or gray "
    "(ColdRipple, Grey)",
    "mate-backgrounds": "abstract/ and desktop/ (rendered), nature/Wood.jpg (gray planks)",
    "gnome-backgrounds 43.1, ukui-wallpapers, lomiri-wallpapers 20.04": "every file rendered or "
    "drawn (Adwaita shapes, pixels, waves, logos)",
    "budgie-control-center-data": "budgie-faces indoor objects, pets and still lifes "
    "(calculator, cat, coffee2, gamepad, guitar2, headphones, tomatoes); legacy/ (96 px)",
    "cinnamon-common": "faces/ (every file 96 px, under the 128 px minimum)",
    "tdiary-theme": "cherry_blossom_r (the same branch as cherry_blossom), momiji, shirakaba, "
    "orange_flower (banners under 128 px once resized to 768), green_leaves, hatena_leaf, "
    "hatena_water, himawari (mostly white or gradient), yukon (gradient overlay), aqua "
    "(rendered), cafe-mint-julep-soda, snest, sleepy_kitten (indoor), the rest drawn or UI",
    "psychtoolbox-3-common": "stims/stim1 (= konijntjes1024x768), stim6 (a painting), stim3, "
    "stim5 and TeapotTexture (indoor), konijntjes gray/blur copies, town_blur, noise, chess "
    "boards, faces, black AntiSaccade screens, composite (drawn patterns), earth map",
    "palapeli-data": "collection/ photos (castle-maintenon, cincinnati-bridge, "
    "european-honey-bee, panther-chameleon-female) already in shared/data; citrus-fruits "
    "(studio still life), backgrounds/ (generated textures)",
    "mate-screensaver-common": "cosmos/ telescope images (false colour), blue-marble-west "
    "(a composite render)",
}


@dataclass(frozen=True)
class Source:
    """One Debian package and the files taken from it."""

    package: str
    version: str
    prefix: str
    files: dict[str, str]  # path inside the package (zip: "archive:member") -> kind
    # installed folder -> the source-tree folder that the copyright file names
    source_dirs: dict[str, str] = field(default_factory=dict)
    dir_in_name: bool = False  # name files "<parent folder>-<stem>" (generic stems)


SOURCES = [
    Source(
        "flightgear-data-base",
        "1:2020.3.16+dfsg-1",
        "flightgear",
        {
            FG + "Scenery/Models/Boundaries/Hedge_2m.png": "foliage",
            FG + "Scenery/Models/Boundaries/Hedge_10m.png": "foliage",
            FG + "Scenery/Models/Boundaries/Hedge-50m.png": "foliage",
        },
    ),
    Source(
        "supertuxkart-data",
        "1.4+dfsg-2",
        "stk",
        {
            STK + "tracks/scotland/water_dark.png": "water",
            STK + "tracks/lighthouse/sea-bed.jpg": "water",
            STK + "tracks/lighthouse/sea.png": "water",
            STK + "tracks/black_forest/water_grass.jpg": "water",
            STK + "textures/sea.jpg": "water",
            STK + "textures/water_light.png": "water",
            STK + "textures/canyon_water.png": "water",
        },
    ),
    Source(
        "colobot-common-textures",
        "0.2.0-2",
        "colobot",
        {
            "usr/share/games/colobot/textures/water12.png": "water",
            "usr/share/games/colobot/textures/water16.png": "water",
        },
    ),
    Source(
        "0ad-data",
        "0.0.26-1",
        "0ad",
        {ZAD + ":art/textures/terrain/types/temp_grass_1.png.cached.dds": "texture"},
    ),
    Source(
        "megaglest-data",
        "3.13.0-3",
        "megaglest",
        {"usr/share/games/megaglest/data/core/menu/main_model/texture_sky.tga": "sky"},
    ),
    Source(
        "mate-backgrounds",
        "1.26.0-1",
        "mate",
        {
            MATE + name: "photo"
            for name in (
                "Aqua.jpg",
                "Blinds.jpg",
                "Dune.jpg",
                "FreshFlower.jpg",
                "Garden.jpg",
                "GreenMeadow.jpg",
                "LadyBird.jpg",
                "RainDrops.jpg",
                "Storm.jpg",
                "TwoWings.jpg",
                "YellowFlower.jpg",
            )
        },
    ),
    Source(
        "liblemonldap-ng-portal-perl",
        "2.16.1+ds-deb12u10",
        "lemonldap",
        {
            LLNG + name: "photo"
            for name in (
                "1280px-Anse_Source_d'Argent_2-La_Digue.jpg",
                "1280px-Autumn-clear-water-waterfall-landscape_-_Virginia_-_ForestWander.jpg",
                "1280px-BrockenSnowedTrees.jpg",
                "1280px-Cedar_Breaks_National_Monument_partially.jpg",
                "1280px-Parry_Peak_from_Winter_Park.jpg",
                "Aletschgletscher_mit_Pinus_cembra1.jpg",
            )
        },
        source_dirs={LLNG: "lemonldap-ng-portal/site/htdocs/static/common/backgrounds/"},
    ),
    Source(
        "budgie-control-center-data",
        "1.2.0-1",
        "budgie",
        {
            BUDGIE + name: "photo"
            for name in (
                "bicycle.jpg",
                "book.jpg",
                "flower2.jpg",
                "hummingbird.jpg",
                "mountain.jpg",
                "plane.jpg",
                "surfer.jpg",
                "tree.jpg",
            )
        },
    ),
    Source(
        "tdiary-theme",
        "5.2.3-1",
        "tdiary",
        {
            TDIARY + name: "photo"
            for name in (
                "cherry_blossom/body.jpg",
                "ginkgo/body.jpg",
                "noto/body.jpg",
                "treetop/body.jpg",
                "treetop/body2.jpg",
                "winter/background.jpg",
            )
        },
        dir_in_name=True,
    ),
    Source(
        "psychtoolbox-3-common",
        "3.0.18.12.dfsg1-1.1",
        "ptb",
        {
            PTB + "PsychDemos/konijntjes1024x768.jpg": "photo",
            PTB + "PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim2.jpg": "photo",
            PTB + "PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim4.jpg": "photo",
            PTB + "PsychHardware/EyelinkToolbox/EyelinkDemos/SR-ResearchDemo/town.jpg": "photo",
        },
    ),
    Source(
        "mate-screensaver-common",
        "1.26.1-1+deb12u1",
        "matess",
        {"usr/share/backgrounds/cosmos/earth-horizon.jpg": "photo"},
        source_dirs={"usr/share/backgrounds/cosmos/": "data/images/cosmos/"},
    ),
]


def fetch(src: Source, cache: Path) -> Path:
    """Download one package (once), extract the listed files and its copyright file.

    Returns:
        The folder that stands for the package's root.
    """
    root = cache / "x" / src.package
    if root.is_dir():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{src.package}_*.deb")):
        cmd = ["apt-get", "download", "-q", f"{src.package}={src.version}"]
        subprocess.run(cmd, cwd=debs, check=True)
    deb = next(debs.glob(f"{src.package}_*.deb"))
    members = {"./" + p.split(":")[0] for p in src.files}
    members.add(f"./usr/share/doc/{src.package}/copyright")
    tmp = root.with_suffix(".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(tmp), *sorted(members)], stdin=tar.stdout, check=True)
    if tar.wait() != 0:
        raise RuntimeError(f"dpkg-deb failed on {deb}")
    tmp.rename(root)
    return root


def load(root: Path, path: str) -> Image.Image:
    """Open a file of the package, or a member of a zip inside it."""
    if ":" in path:
        archive, member = path.split(":", 1)
        with zipfile.ZipFile(root / archive) as zf:
            return Image.open(io.BytesIO(zf.read(member)))
    return Image.open(root / path)


def licence_of(root: Path, package: str, path: str, source_dirs: dict[str, str]) -> str:
    """Licence of the last (most specific) matching DEP-5 ``Files:`` stanza.

    Stanza patterns are source-tree paths; a pattern matches when it matches
    any trailing part of the installed path (zip members are joined with '/'),
    after an installed folder listed in ``source_dirs`` is renamed to its
    source-tree folder.
    """
    text = (root / "usr/share/doc" / package / "copyright").read_text(errors="replace")
    for installed, source in source_dirs.items():
        if path.startswith(installed):
            path = source + path[len(installed) :]
    parts = path.replace(":", "/").split("/")
    found = ""
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        lic = re.search(r"^License:\s*(\S.*)$", stanza, re.M)
        if not files or not lic:
            continue
        for pattern in files.group(1).split():
            if any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern) for i in range(len(parts))):
                found = lic.group(1).strip()
    return found


def phash(img: Image.Image) -> int:
    """64-bit DCT perceptual hash."""
    gray = np.asarray(img.convert("L").resize((32, 32), Image.LANCZOS), dtype=np.float32)
    block = cv2.dct(gray)[:8, :8].flatten()
    bits = block > np.median(block[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def screen(img: Image.Image) -> tuple[Image.Image | None, str, list[str]]:
    """Apply the scenes screens; return (RGB image or None, reason, flags)."""
    stored_short = min(img.size) * min(1.0, MAX_SIDE / max(img.size))  # after the resize
    if stored_short < 128:
        return None, f"short side < 128 (as stored, long side at most {MAX_SIDE})", []
    if img.mode in ("RGBA", "LA", "PA", "P"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        opaque = rgba[..., 3] > 128
        if opaque.mean() < 0.9:
            return None, "under 90% opaque", []
        rgba[~opaque, :3] = rgba[opaque, :3].mean(0)
        img = Image.fromarray(rgba[..., :3].astype(np.uint8))
    rgb = img.convert("RGB")
    small = np.asarray(rgb.resize((128, 128), Image.BILINEAR)) / 255.0
    lab = rgb2lab(small)
    std = lab.reshape(-1, 3).std(0)
    chroma = float(np.hypot(lab[..., 1].mean(), lab[..., 2].mean()))
    if std[1] < 6 and std[2] < 6 and chroma < 10:
        return None, "near-grayscale", []
    if (std < 3).all():
        return None, "solid colour", []
    if ((lab[..., 1] > 8) & (lab[..., 2] < -30)).mean() > 0.3:
        return None, "normal-map colour", []
    hsv = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2HSV)
    arr = np.asarray(rgb)
    flags = []
    if ((hsv[..., 1] > 0.85 * 255) & (hsv[..., 2] > 0.5 * 255)).mean() > 0.25:
        flags.append("oversaturated")
    same = (arr[:-1, :-1] == arr[1:, :-1]).all(-1) & (arr[:-1, :-1] == arr[:-1, 1:]).all(-1)
    if same.mean() > 0.35:
        flags.append("flat")
    crop = arr[:256, :256].reshape(-1, 3)
    if len(np.unique(crop, axis=0)) < 0.02 * len(crop):
        flags.append("few-colours")
    return rgb, "", flags


def mean_hue_chroma(img: Image.Image) -> tuple[float, float]:
    """Hue (degrees) and chroma of the image's mean a*, b*."""
    lab = rgb2lab(np.asarray(img.resize((128, 128), Image.BILINEAR)) / 255.0)
    a, b = lab[..., 1].mean(), lab[..., 2].mean()
    return float(np.degrees(np.arctan2(b, a)) % 360), float(np.hypot(a, b))


def shared_hashes() -> list[int]:
    """Perceptual hashes of every image already in shared/data."""
    out = []
    for p in sorted(SHARED.rglob("*.jpg")):
        with Image.open(p) as im:
            out.append(phash(im))
    return out


def shared_paths() -> set[tuple[str, str]]:
    """(package, original path) of every file in shared/data, crop boxes dropped."""
    out = set()
    for manifest in SHARED.glob("*/MANIFEST.csv"):
        with open(manifest, newline="") as fh:
            for row in csv.DictReader(fh):
                out.add((row["source_package"], row["original_path"].split(" [")[0].split(" (")[0]))
    return out


def first_near(h: int, hashes: list[int]) -> int | None:
    """Index of the first of hashes within HAMMING_MAX bits of h, or None."""
    return next((i for i, o in enumerate(hashes) if bin(h ^ o).count("1") <= HAMMING_MAX), None)


def short_name(path: str, dir_in_name: bool = False) -> str:
    """File stem of a package path (after its folder's name if asked), lower-case,
    dashes for other characters."""
    name = Path(path.split(":")[-1])
    stem = name.name.split(".")[0]
    if dir_in_name:
        stem = f"{name.parent.name}-{stem}"
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")


def main() -> None:
    """Build OUT_DIR from the allow-listed files."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "filmcolor" / "debian",
        help="where the downloaded packages are kept and extracted",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    known = shared_hashes()
    print(f"{len(known)} shared/data hashes")
    srgb = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    srgb[24:36] = bytes(12)  # no creation date: byte-identical rebuilds
    used = shared_paths()
    kept: list[tuple[int, int, dict]] = []  # (hash, pixels, row)
    for src in SOURCES:
        root = fetch(src, args.cache)
        for path, kind in src.files.items():
            if (src.package, "/" + path) in used:
                print(f"reject {src.package} {path}: already in shared/data")
                continue
            rgb, why, flags = screen(load(root, path))
            if rgb is None:
                print(f"reject {src.package} {path}: {why}")
                continue
            h = phash(rgb)
            if first_near(h, known) is not None:
                print(f"reject {src.package} {path}: duplicates shared/data")
                continue
            lic = licence_of(root, src.package, path, src.source_dirs)
            if not lic:
                print(f"reject {src.package} {path}: no licence found")
                continue
            row = {
                "file": f"{src.prefix}_{short_name(path, src.dir_in_name)}.jpg",
                "source_package": src.package,
                "version": src.version,
                "original_path": "/" + path,
                "license": lic,
                "kind": kind,
                "flags": " ".join(flags),
                "img": rgb,
            }
            pixels = rgb.size[0] * rgb.size[1]
            dup = first_near(h, [o for o, _, _ in kept])
            if dup is None:
                kept.append((h, pixels, row))
            elif pixels > kept[dup][1]:
                print(f"duplicate: {kept[dup][2]['original_path']} replaced by {path}")
                kept[dup] = (h, pixels, row)
            else:
                print(f"duplicate: {path} of {kept[dup][2]['original_path']}")
    names = [row["file"] for _, _, row in kept]
    if len(names) != len(set(names)):
        raise RuntimeError(f"two kept files share a name: {sorted(names)}")
    cols = [
        "file",
        "source_package",
        "version",
        "original_path",
        "license",
        "kind",
        "mean_hue_deg",
        "mean_chroma",
    ]
    with open(args.out / "MANIFEST.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, cols, extrasaction="ignore")
        writer.writeheader()
        for _, _, row in sorted(kept, key=lambda k: k[2]["file"]):
            img = row.pop("img")
            if max(img.size) > MAX_SIDE:
                img.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
            img.save(args.out / row["file"], quality=90, icc_profile=bytes(srgb))
            hue, chroma = mean_hue_chroma(img)
            row["mean_hue_deg"], row["mean_chroma"] = f"{hue:.1f}", f"{chroma:.1f}"
            writer.writerow(row)
            print(f"kept {row['file']} hue {hue:.0f} chroma {chroma:.1f} {row['flags']}")
    print(f"{len(kept)} images in {args.out}")


if __name__ == "__main__":
    main()
