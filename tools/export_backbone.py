#!/usr/bin/env python
"""Export the student of a classification checkpoint as an mmdet / mmseg backbone.

    python tools/export_backbone.py SRC OUT [--src-format auto|kd_transfer|torchvision|
                                              mdistiller|repdistiller]
                                    [--arch NAME] [--force] [--keep-head]
                                    [--method NAME] [--teacher NAME]
                                    [--mean R G B --std R G B [--channel-order RGB|BGR]]

SRC is a kd_transfer training checkpoint (Distiller or plain classifier), a torchvision
state_dict, an mdistiller or a RepDistiller checkpoint. Only the student backbone is kept
(teacher, connectors and the classifier head are dropped), renamed to the keys of the
backbone the transfer configs build, verified by a strict load, and written atomically to
OUT with its provenance under meta['kd_transfer'], including the normalisation the student
was trained with (meta['kd_transfer']['normalisation']: from the kd_transfer config, the
code base's statistics for torchvision / mdistiller / RepDistiller files, or --mean/--std).
Use it with
    --cfg-options model.backbone.init_cfg.checkpoint=OUT
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from kd_transfer.export import (SOURCE_FORMATS, ExportError, export_backbone,  # noqa: E402
                                format_summary)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.strip().splitlines()[1:]))
    parser.add_argument('src', metavar='SRC', help='source checkpoint')
    parser.add_argument('out', metavar='OUT', help='exported backbone file to write')
    parser.add_argument('--src-format', default='auto', choices=('auto',) + SOURCE_FORMATS,
                        help='layout of SRC (default: detected)')
    parser.add_argument('--arch', default=None,
                        help='student architecture short name (default: from the kd_transfer '
                        'config stored in SRC, else the architecture whose keys match)')
    parser.add_argument('--force', action='store_true', help='overwrite OUT if it exists')
    parser.add_argument('--keep-head', action='store_true',
                        help='keep the classifier head (fc / classifier)')
    parser.add_argument('--method', default=None,
                        help='provenance: distillation method, for sources without a '
                        'kd_transfer config (e.g. baseline, kd, dkd)')
    parser.add_argument('--teacher', default=None,
                        help='provenance: teacher architecture, for sources without a '
                        'kd_transfer config')
    parser.add_argument('--mean', type=float, nargs=3, default=None, metavar=('C0', 'C1', 'C2'),
                        help='provenance: the mean the student was trained with (0-255 scale, '
                        'in --channel-order), overriding the one read from SRC')
    parser.add_argument('--std', type=float, nargs=3, default=None, metavar=('C0', 'C1', 'C2'),
                        help='provenance: the std the student was trained with (with --mean)')
    parser.add_argument('--channel-order', default='RGB', choices=('RGB', 'BGR'),
                        help='channel order the student saw, of --mean / --std (default RGB)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = export_backbone(args.src, args.out, src_format=args.src_format, arch=args.arch,
                                  force=args.force, keep_head=args.keep_head, method=args.method,
                                  teacher=args.teacher, mean=args.mean, std=args.std,
                                  channel_order=args.channel_order)
    except ExportError as err:
        print(f'export_backbone: error: {err}', file=sys.stderr)
        print('export_backbone: nothing was written', file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
