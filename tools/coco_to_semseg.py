#!/usr/bin/env python
"""Convert COCO instance annotations into semantic segmentation masks (uint8 palette PNGs).

    python tools/coco_to_semseg.py COCO_ROOT [--out DIR] [--classes coco80|voc20]
                                   [--splits train2017 val2017] [--on-error fail|skip]
                                   [--force]

Reads COCO_ROOT/annotations/instances_<split>.json (and checks COCO_ROOT/<split>/ images),
writes DIR/<split>/<image>.png and DIR/classes.txt atomically. DIR defaults to
COCO_ROOT/semseg_<classes>. Labels: 0 background, 1..80 COCO things (coco80) or 1..20 VOC
classes (voc20; other categories paint nothing, so never over a VOC object), 255 on crowd
regions. Polygons, multi-polygons, compressed and uncompressed (official iscrowd=1) RLE are
decoded as pycocotools' annToMask; smaller instances end on top (docs/coco_semseg.md). Read
them with
    dict(type='COCOSemSegDataset', classes_variant='coco80', data_root=COCO_ROOT,
         data_prefix=dict(img_path='train2017', seg_map_path='semseg_coco80/train2017'))
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from kd_transfer.datasets.coco_semseg import (CLASS_VARIANTS,  # noqa: E402
                                              convert_coco_to_semseg)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.strip().splitlines()[1:]))
    parser.add_argument('coco_root', metavar='COCO_ROOT',
                        help='directory with annotations/ and the image directories')
    parser.add_argument('--out', default=None,
                        help='output directory (default: COCO_ROOT/semseg_<classes>)')
    parser.add_argument('--classes', default='coco80', choices=CLASS_VARIANTS,
                        help='label space (default: coco80)')
    parser.add_argument('--splits', nargs='+', default=['train2017', 'val2017'],
                        help='splits to convert (default: train2017 val2017)')
    parser.add_argument('--on-error', default='fail', choices=('fail', 'skip'),
                        help='malformed image/annotation entries: stop (fail, default) or skip '
                        'them and report how many were skipped')
    parser.add_argument('--force', action='store_true',
                        help='replace the output directory if this tool wrote it (its '
                        '.kd_transfer_manifest.json lists everything in it)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out or osp.join(args.coco_root, f'semseg_{args.classes}')
    try:
        convert_coco_to_semseg(args.coco_root, out, classes=args.classes, splits=args.splits,
                               on_error=args.on_error, force=args.force)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f'coco_to_semseg: error: {err}', file=sys.stderr)
        print('coco_to_semseg: nothing was written', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
