"""Published top-1 accuracies of the paper pairs, to set beside the suite's own runs.

Every number names its source: a paper table or a public repository's README. The README
values were checked against the READMEs; the paper-table values (ReviewKD on CIFAR-100, the
DKD paper's ImageNet teacher / AT / KD rows) are transcribed from the papers' tables. Rows are keyed by the suite's short names:
dataset (``'cifar100'`` / ``'imagenet'``), teacher and student architecture (keys of
:data:`kd_transfer.models.ARCHS`) and method (a key of
:data:`kd_transfer.distill.DISTILL_METHODS`, or ``'teacher'`` / ``'baseline'`` for the teacher
and the student trained alone). Where two sources publish different numbers for the same
entry, the first listed is the one :func:`published_top1` returns and the others are kept in
:data:`PUBLISHED` with their source.

Methods / pairs with no published number (GLD and focal-calibration KD on these pairs, DKD and
ReviewKD on resnet110 -> resnet20, the ResNet-50 -> MobileNetV2 pair, which is the suite's own
ImageNet setting) are absent: :func:`published_top1` returns None for them.
"""
from typing import Dict, List, NamedTuple, Optional, Tuple

#: Source labels.
CRD = ('RepDistiller README (CRD paper, Tian et al. ICLR 2020, Tables 1-2), '
       'github.com/HobbitLong/RepDistiller')
DKD_README = ('mdistiller README (the DKD paper\'s results, Zhao et al. CVPR 2022), '
              'github.com/megvii-research/mdistiller')
REVIEWKD_PAPER = 'ReviewKD paper (Chen et al. CVPR 2021), Tables 1-3'
REVIEWKD_README = ('official ReviewKD code, ImageNet/README.md, '
                   'github.com/dvlab-research/ReviewKD')
DKD_PAPER = ('DKD paper (Zhao et al. CVPR 2022), ImageNet tables; the authors took these rows '
             'from the ReviewKD paper\'s ImageNet table')
#: Values transcribed from a paper table that no public text reachable here prints: check them
#: against the PDF before relying on them (the report shows the source).
UNVERIFIED = ' [not verified against a public text]'
TORCHVISION = 'torchvision model table (IMAGENET1K_V1 weights, acc@1 73.314)'


class Published(NamedTuple):
    """One published number."""
    dataset: str
    teacher: str
    student: str
    method: str
    top1: float
    source: str


def _cifar(teacher: str, student: str, numbers: Dict[str, float], source: str) -> List[Published]:
    return [Published('cifar100', teacher, student, m, v, source) for m, v in numbers.items()]


def _imagenet(teacher: str, student: str, numbers: Dict[str, float],
              source: str) -> List[Published]:
    return [Published('imagenet', teacher, student, m, v, source) for m, v in numbers.items()]


#: Every published number, first-listed source first for each key.
PUBLISHED: Tuple[Published, ...] = tuple([
    # ---- CIFAR-100: teacher, baseline student, KD, FitNets, AT (CRD benchmark) ----
    *_cifar('resnet56', 'resnet20', dict(teacher=72.34, baseline=69.06, kd=70.66, fitnets=69.21,
                                         at=70.55), CRD),
    *_cifar('resnet110', 'resnet20', dict(teacher=74.31, baseline=69.06, kd=70.67, fitnets=68.99,
                                          at=70.22), CRD),
    *_cifar('resnet110', 'resnet32', dict(teacher=74.31, baseline=71.14, kd=73.08, fitnets=71.06,
                                          at=72.31), CRD),
    *_cifar('resnet32x4', 'resnet8x4', dict(teacher=79.42, baseline=72.50, kd=73.33,
                                            fitnets=73.50, at=73.44), CRD),
    *_cifar('wrn40_2', 'wrn16_2', dict(teacher=75.61, baseline=73.26, kd=74.92, fitnets=73.58,
                                       at=74.08), CRD),
    *_cifar('resnet32x4', 'shufflev1', dict(teacher=79.42, baseline=70.50, kd=74.07,
                                            fitnets=73.59, at=71.73), CRD),
    *_cifar('wrn40_2', 'shufflev1', dict(teacher=75.61, baseline=70.50, kd=74.83, fitnets=73.73,
                                         at=73.32), CRD),
    # ---- CIFAR-100: DKD (mdistiller README) ----
    *_cifar('resnet56', 'resnet20', dict(dkd=71.97), DKD_README),
    *_cifar('resnet110', 'resnet32', dict(dkd=74.11), DKD_README),
    *_cifar('resnet32x4', 'resnet8x4', dict(dkd=76.32), DKD_README),
    *_cifar('wrn40_2', 'wrn16_2', dict(dkd=76.23), DKD_README),
    *_cifar('resnet32x4', 'shufflev1', dict(dkd=76.45), DKD_README),
    *_cifar('wrn40_2', 'shufflev1', dict(dkd=76.70), DKD_README),
    # ---- CIFAR-100: ReviewKD (paper) ----
    *_cifar('resnet56', 'resnet20', dict(reviewkd=71.89), REVIEWKD_PAPER),
    *_cifar('resnet110', 'resnet32', dict(reviewkd=73.89), REVIEWKD_PAPER),
    *_cifar('resnet32x4', 'resnet8x4', dict(reviewkd=75.63), REVIEWKD_PAPER),
    *_cifar('wrn40_2', 'wrn16_2', dict(reviewkd=76.12), REVIEWKD_PAPER),
    *_cifar('resnet32x4', 'shufflev1', dict(reviewkd=77.45), REVIEWKD_PAPER),
    *_cifar('wrn40_2', 'shufflev1', dict(reviewkd=77.14), REVIEWKD_PAPER),
    # ---- ImageNet ResNet-34 -> ResNet-18 ----
    *_imagenet('resnet34', 'resnet18', dict(teacher=73.31), TORCHVISION),
    *_imagenet('resnet34', 'resnet18', dict(baseline=69.75, reviewkd=71.61), REVIEWKD_README),
    *_imagenet('resnet34', 'resnet18', dict(kd=71.03, dkd=71.70), DKD_README),
    *_imagenet('resnet34', 'resnet18', dict(kd=70.66), DKD_PAPER),
    *_imagenet('resnet34', 'resnet18', dict(at=70.69), DKD_PAPER + UNVERIFIED),
    # ---- ImageNet ResNet-50 -> MobileNet (V1) ----
    *_imagenet('resnet50', 'mobilenetv1', dict(teacher=76.16), DKD_PAPER),
    *_imagenet('resnet50', 'mobilenetv1', dict(at=69.56), DKD_PAPER + UNVERIFIED),
    *_imagenet('resnet50', 'mobilenetv1', dict(baseline=68.87, reviewkd=72.56), REVIEWKD_README),
    *_imagenet('resnet50', 'mobilenetv1', dict(kd=70.50, dkd=72.05), DKD_README),
    *_imagenet('resnet50', 'mobilenetv1', dict(kd=68.58), DKD_PAPER + UNVERIFIED),
])

_ROLES = ('teacher', 'baseline')


def _index() -> Dict[Tuple[str, str, str, str], Published]:
    index: Dict[Tuple[str, str, str, str], Published] = {}
    for row in PUBLISHED:
        index.setdefault((row.dataset, row.teacher, row.student, row.method), row)
    return index


_INDEX = _index()


def published_entry(dataset: str, teacher: str, student: str,
                    method: str) -> Optional[Published]:
    """The published row for a pair and method (first-listed source), or None.

    Args:
        dataset (str): ``'cifar100'`` or ``'imagenet'`` (case-insensitive; ``'cifar-100'``
            is accepted too).
        teacher (str): Teacher short name (``'resnet32x4'``); for ``method='teacher'`` /
            ``'baseline'`` the pair still selects the row (teachers and baselines differ
            between papers).
        student (str): Student short name.
        method (str): A method short name (``'kd'``, ``'reviewkd'``, ... ; combinations such as
            ``'gld+reviewkd'`` have no published number), ``'teacher'`` or ``'baseline'``.

    Returns:
        Published | None: The row (value and source), or None when nothing is published.
    """
    key = (str(dataset).lower().replace('-', ''), str(teacher), str(student), str(method))
    return _INDEX.get(key)


def published_top1(dataset: str, teacher: str, student: str, method: str) -> Optional[float]:
    """Published top-1 (%) for ``method`` on the pair, or None if none is published.

    See :func:`published_entry` for the arguments; ``published_entry(...).source`` names the
    source of the value.
    """
    row = published_entry(dataset, teacher, student, method)
    return None if row is None else row.top1


def published_alone_top1(dataset: str, arch: str) -> Optional[float]:
    """Published top-1 of ``arch`` trained alone (a teacher or an undistilled baseline row).

    Collects the ``'teacher'`` rows whose teacher is ``arch`` and the ``'baseline'`` rows whose
    student is ``arch``; returns their value when all sources agree, else None (ambiguous).

    Args:
        dataset (str): ``'cifar100'`` or ``'imagenet'``.
        arch (str): Architecture short name.

    Returns:
        float | None: The published top-1, or None.
    """
    ds = str(dataset).lower().replace('-', '')
    values = {row.top1 for row in PUBLISHED if row.dataset == ds and (
        (row.method == 'teacher' and row.teacher == arch) or
        (row.method == 'baseline' and row.student == arch))}
    return values.pop() if len(values) == 1 else None


#: Registered classification dataset types -> the dataset names used here.
CLS_DATASETS = {'CIFAR100Pickle': 'cifar100', 'ImageFolderCls': 'imagenet'}


def cls_dataset_name(dataset_type: Optional[str]) -> Optional[str]:
    """``'cifar100'`` / ``'imagenet'`` for a config's train dataset ``type``, else None."""
    return CLS_DATASETS.get(str(dataset_type).split('.')[-1]) if dataset_type else None


def published_pairs(dataset: Optional[str] = None) -> List[Tuple[str, str, str]]:
    """``(dataset, teacher, student)`` of every pair with published numbers, in table order."""
    seen: List[Tuple[str, str, str]] = []
    for row in PUBLISHED:
        pair = (row.dataset, row.teacher, row.student)
        if pair not in seen and (dataset is None or row.dataset == dataset):
            seen.append(pair)
    return seen
