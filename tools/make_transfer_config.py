#!/usr/bin/env python
"""Write runnable det / seg transfer configs for an exported student: no hand-written config.

    python tools/make_transfer_config.py BACKBONE.pth OUT_DIR [--name NAME]
                                         [--kinds det|seg|KIND ...] [--force]

BACKBONE.pth is a file written by tools/export_backbone.py (any architecture the suite
distils or imports). Its provenance (meta['kd_transfer']: backbone config, normalisation)
fills a student file OUT_DIR/student_NAME.py (channels and strides measured on the built
backbone, DeepLab settings by family as mmseg's recipes), and each task x dataset config of
configs/transfer/ is written to OUT_DIR with that student and the checkpoint filled in:

    OUT_DIR/faster-rcnn_NAME_fpn_1x_coco.py  faster-rcnn_NAME_fpn_voc07.py
    OUT_DIR/deeplabv3plus_NAME_{voc07,voc12aug,coco80,coco20voc}.py  (and deeplabv3_...)

Run them as they are, e.g.
    bash tools/dist_train.sh OUT_DIR/faster-rcnn_NAME_fpn_voc07.py 8
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from kd_transfer.transfer_config import (KINDS, TransferConfigError,  # noqa: E402
                                         kind_id, write_transfer_configs)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.strip().splitlines()[1:]))
    parser.add_argument('checkpoint', metavar='BACKBONE', help='exported backbone (.pth)')
    parser.add_argument('out_dir', metavar='OUT_DIR', help='directory for the configs')
    parser.add_argument('--name', default=None,
                        help='student name in the file names (default: BACKBONE file name)')
    parser.add_argument('--kinds', nargs='+', default=None,
                        help='det, seg or some of: ' + ', '.join(kind_id(k) for k in KINDS))
    parser.add_argument('--force', action='store_true', help='overwrite existing files')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        paths = write_transfer_configs(args.checkpoint, args.out_dir, name=args.name,
                                       kinds=args.kinds, force=args.force)
    except (TransferConfigError, FileNotFoundError) as err:
        print(f'make_transfer_config: error: {err}', file=sys.stderr)
        return 1
    print('\n'.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
