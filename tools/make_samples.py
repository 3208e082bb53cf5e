"""Build the sample data the app ships (``cnn_demo/data/bundled/``) from ``../shared/data``. Run once by a developer.

* ``people/``: the 128 COCO train2017 photos of ``coco_sample/train2017`` with person masks and person boxes taken
  from COCO's instance annotations. Photos under a NoDerivs licence are copied byte for byte; the others are
  re-encoded at most 512 px on the long side. The val2017 sample is never read: it stays unseen, for evaluation.
* ``voc_pairs/``: the 14 PASCAL VOC image/mask pairs of ``seg_sample/voc_vainf`` (MIT), images as JPEG.

``SOURCES.md`` beside them lists every file's source and licence.

    .venv/bin/python tools/make_samples.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "cnn_demo" / "data" / "bundled"
NO_DERIVATIVES = {3, 6}  # CC BY-NC-ND, CC BY-ND: redistributed unmodified only
MAX_SIDE = 512
PERSON = 1


def mask_palette() -> list[int]:
    """0 black background, 1 VOC's person colour, 255 VOC's cream (ignored: crowds, borders)."""
    pal = [0, 0, 0, 192, 128, 128] + [0, 0, 0] * 253 + [224, 224, 192]
    return pal


def people(shared: Path) -> list[dict]:
    src = shared / "coco_sample" / "train2017"
    coco = COCO(str(src / "instances_train2017.json"))
    licences = {lic["id"]: lic for lic in coco.dataset["licenses"]}
    out = OUT / "people"
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    images, annotations, rows = [], [], []
    for img_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(img_id)[0]
        photo = src / "images" / info["file_name"]
        w0, h0 = info["width"], info["height"]
        if info["license"] in NO_DERIVATIVES:
            shutil.copyfile(photo, out / "images" / info["file_name"])
            w, h, how = w0, h0, "unmodified"
        else:
            im = Image.open(photo).convert("RGB")
            im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            im.save(out / "images" / info["file_name"], "JPEG", quality=88)
            w, h = im.size
            how = f"resized to {w}×{h}, JPEG quality 88"
        sx, sy = w / w0, h / h0
        mask = np.zeros((h0, w0), np.uint8)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id, catIds=[PERSON])):
            m = coco.annToMask(ann).astype(bool)
            if ann["iscrowd"]:
                mask[m & (mask == 0)] = 255
            else:
                mask[m] = 1
            x, y, bw, bh = ann["bbox"]
            annotations.append(
                {
                    "id": ann["id"],
                    "image_id": img_id,
                    "category_id": PERSON,
                    "bbox": [round(x * sx, 2), round(y * sy, 2), round(bw * sx, 2), round(bh * sy, 2)],
                    "area": round(ann["area"] * sx * sy, 2),
                    "iscrowd": ann["iscrowd"],
                }
            )
        pm = Image.fromarray(mask, "P").resize((w, h), Image.Resampling.NEAREST) if (w, h) != (w0, h0) else None
        pm = pm or Image.fromarray(mask, "P")
        pm.putpalette(mask_palette())
        pm.save(out / "masks" / (Path(info["file_name"]).stem + ".png"), optimize=True)
        images.append(
            {
                "id": img_id,
                "file_name": info["file_name"],
                "width": w,
                "height": h,
                "license": info["license"],
                "coco_url": info["coco_url"],
                "flickr_url": info["flickr_url"],
            }
        )
        lic = licences[info["license"]]
        rows.append(
            f"| people/images/{info['file_name']} | COCO train2017 {img_id} ([image]({info['coco_url']}), "
            f"[Flickr]({info['flickr_url']})) | [{lic['name']}]({lic['url']}) | {how} |"
        )
    data = {
        "info": {
            "description": "People sample of cnn-demo: COCO train2017 person boxes (masks in masks/), rescaled "
            "to the shipped photos. Annotations: COCO Consortium, CC BY 4.0.",
        },
        "licenses": list(licences.values()),
        "categories": [{"id": PERSON, "name": "person", "supercategory": "person"}],
        "images": images,
        "annotations": annotations,
    }
    (out / "annotations.json").write_text(json.dumps(data, separators=(",", ":")))
    return rows


def voc_pairs(shared: Path) -> list[str]:
    src = shared / "seg_sample" / "voc_vainf"
    out = OUT / "voc_pairs"
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    rows = []
    for mask in sorted((src / "masks").glob("*.png"), key=lambda p: int(p.stem)):
        Image.open(src / "images" / mask.name).convert("RGB").save(out / "images" / f"{mask.stem}.jpg", quality=92)
        shutil.copyfile(mask, out / "masks" / mask.name)
        rows.append(
            f"| voc_pairs/images/{mask.stem}.jpg, voc_pairs/masks/{mask.name} | PASCAL VOC 2012 via "
            f"VainF/DeepLabV3Plus-Pytorch `samples/{mask.stem}_image.png`, `samples/{mask.stem}_target.png` | "
            "MIT, (c) 2020 Gongfan Fang | image as JPEG quality 92; mask as class indices 0–20, 255 = void |"
        )
    return rows


HEADER = """# Sample data shipped with cnn-demo: where each file came from

Generated by `tools/make_samples.py` from the project's shared data folder; the app reads only these copies.

- `people/`: photos of COCO train2017 (the "coco128" images) with person masks (`masks/*.png`: palette PNG,
  0 background, 1 person, 255 crowd region, ignored) and person boxes (`annotations.json`, COCO format) cut from
  COCO's instance annotations (COCO Consortium, [CC BY 4.0](https://creativecommons.org/licenses/by/4.0/)).
  Each photo keeps its Flickr licence, listed below; photos under a NoDerivs licence are unmodified copies.
  COCO's val2017 photos are not here: the benchmarks evaluate on them, unseen.
- `voc_pairs/`: PASCAL VOC 2012 image/mask pairs from VainF/DeepLabV3Plus-Pytorch (MIT licence, (c) 2020 Gongfan
  Fang): masks are class indices 0–20 in VOC's label order, 255 the void border.

| file | source | licence | changes |
|---|---|---|---|
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    rows = people(args.shared) + voc_pairs(args.shared)
    (OUT / "SOURCES.md").write_text(HEADER + "\n".join(rows) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
