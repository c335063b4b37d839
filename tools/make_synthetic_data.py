#!/usr/bin/env python
"""Generate the synthetic "shapes" world in the real VOC2007, COCO2017 and CIFAR-100 formats.

    python tools/make_synthetic_data.py OUT_DIR [--seed S] [--num-train N] [--num-val M]
                                        [--image-size 128] [--cifar-train N] [--cifar-test M]
                                        [--force]

Writes OUT_DIR/VOCdevkit/VOC2007/..., OUT_DIR/coco/{annotations,train2017,val2017} and
OUT_DIR/cifar100/cifar-100-python/{train,test,meta} (see data/README.md), atomically, and
identically for the same arguments. Point the configs at it, e.g.
    ln -s $(realpath OUT_DIR)/VOCdevkit data/VOCdevkit
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from kd_transfer.datasets.synthetic import make_synthetic_data  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.strip().splitlines()[1:]))
    parser.add_argument('out_dir', metavar='OUT_DIR', help='directory to create')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--num-train', type=int, default=200,
                        help='VOC trainval and COCO train2017 images (default: 200)')
    parser.add_argument('--num-val', type=int, default=50,
                        help='VOC test and COCO val2017 images (default: 50)')
    parser.add_argument('--image-size', type=int, default=128,
                        help='height = width of the VOC / COCO images (default: 128)')
    parser.add_argument('--cifar-train', type=int, default=5000,
                        help='images in the CIFAR-100 train pickle (default: 5000)')
    parser.add_argument('--cifar-test', type=int, default=1000,
                        help='images in the CIFAR-100 test pickle (default: 1000)')
    parser.add_argument('--force', action='store_true',
                        help='replace OUT_DIR if this tool wrote it (its '
                        '.kd_transfer_manifest.json lists everything in it)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        make_synthetic_data(args.out_dir, seed=args.seed, num_train=args.num_train,
                            num_val=args.num_val, image_size=args.image_size,
                            cifar_train=args.cifar_train, cifar_test=args.cifar_test,
                            force=args.force)
    except (FileExistsError, ValueError) as err:
        print(f'make_synthetic_data: error: {err}', file=sys.stderr)
        print('make_synthetic_data: nothing was written', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
