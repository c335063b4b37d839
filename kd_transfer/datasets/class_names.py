"""Label spaces of the real datasets (VOC, COCO, CIFAR-100) and the VOC palette.

Kept in one place so that the synthetic generator, the COCO -> semantic converter and
the dataset readers agree on names, ids and order.
"""
from typing import Dict, List, Tuple

#: The 20 PASCAL VOC classes in the official order (label 1..20 in VOC masks, 0 = background).
VOC_CLASSES: Tuple[str, ...] = (
    'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
    'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
    'train', 'tvmonitor')

#: The 80 COCO "thing" categories as (category_id, name, supercategory), in id order.
COCO_CATEGORIES: Tuple[Tuple[int, str, str], ...] = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'), (13, 'stop sign', 'outdoor'),
    (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'), (16, 'bird', 'animal'),
    (17, 'cat', 'animal'), (18, 'dog', 'animal'), (19, 'horse', 'animal'), (20, 'sheep', 'animal'),
    (21, 'cow', 'animal'), (22, 'elephant', 'animal'), (23, 'bear', 'animal'),
    (24, 'zebra', 'animal'), (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'),
    (28, 'umbrella', 'accessory'), (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'),
    (33, 'suitcase', 'accessory'), (34, 'frisbee', 'sports'), (35, 'skis', 'sports'),
    (36, 'snowboard', 'sports'), (37, 'sports ball', 'sports'), (38, 'kite', 'sports'),
    (39, 'baseball bat', 'sports'), (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
    (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'),
    (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
    (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
    (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'), (61, 'cake', 'food'),
    (62, 'chair', 'furniture'), (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'),
    (65, 'bed', 'furniture'), (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'),
    (72, 'tv', 'electronic'), (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
    (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'), (77, 'cell phone', 'electronic'),
    (78, 'microwave', 'appliance'), (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'),
    (81, 'sink', 'appliance'), (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'),
    (85, 'clock', 'indoor'), (86, 'vase', 'indoor'), (87, 'scissors', 'indoor'),
    (88, 'teddy bear', 'indoor'), (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor'))

#: COCO category name -> VOC class name for the 20 COCO categories that are VOC classes.
COCO_TO_VOC: Dict[str, str] = {
    'airplane': 'aeroplane', 'bicycle': 'bicycle', 'bird': 'bird', 'boat': 'boat',
    'bottle': 'bottle', 'bus': 'bus', 'car': 'car', 'cat': 'cat', 'chair': 'chair', 'cow': 'cow',
    'dining table': 'diningtable', 'dog': 'dog', 'horse': 'horse', 'motorcycle': 'motorbike',
    'person': 'person', 'potted plant': 'pottedplant', 'sheep': 'sheep', 'couch': 'sofa',
    'train': 'train', 'tv': 'tvmonitor'}

# CIFAR-100: the 20 superclasses with their 5 fine classes (names as in the real meta file).
_CIFAR100_SUPERCLASSES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ('aquatic_mammals', ('beaver', 'dolphin', 'otter', 'seal', 'whale')),
    ('fish', ('aquarium_fish', 'flatfish', 'ray', 'shark', 'trout')),
    ('flowers', ('orchid', 'poppy', 'rose', 'sunflower', 'tulip')),
    ('food_containers', ('bottle', 'bowl', 'can', 'cup', 'plate')),
    ('fruit_and_vegetables', ('apple', 'mushroom', 'orange', 'pear', 'sweet_pepper')),
    ('household_electrical_devices', ('clock', 'keyboard', 'lamp', 'telephone', 'television')),
    ('household_furniture', ('bed', 'chair', 'couch', 'table', 'wardrobe')),
    ('insects', ('bee', 'beetle', 'butterfly', 'caterpillar', 'cockroach')),
    ('large_carnivores', ('bear', 'leopard', 'lion', 'tiger', 'wolf')),
    ('large_man-made_outdoor_things', ('bridge', 'castle', 'house', 'road', 'skyscraper')),
    ('large_natural_outdoor_scenes', ('cloud', 'forest', 'mountain', 'plain', 'sea')),
    ('large_omnivores_and_herbivores', ('camel', 'cattle', 'chimpanzee', 'elephant', 'kangaroo')),
    ('medium_mammals', ('fox', 'porcupine', 'possum', 'raccoon', 'skunk')),
    ('non-insect_invertebrates', ('crab', 'lobster', 'snail', 'spider', 'worm')),
    ('people', ('baby', 'boy', 'girl', 'man', 'woman')),
    ('reptiles', ('crocodile', 'dinosaur', 'lizard', 'snake', 'turtle')),
    ('small_mammals', ('hamster', 'mouse', 'rabbit', 'shrew', 'squirrel')),
    ('trees', ('maple_tree', 'oak_tree', 'palm_tree', 'pine_tree', 'willow_tree')),
    ('vehicles_1', ('bicycle', 'bus', 'motorcycle', 'pickup_truck', 'train')),
    ('vehicles_2', ('lawn_mower', 'rocket', 'streetcar', 'tank', 'tractor')),
)

#: The 100 CIFAR-100 fine label names in label order (alphabetical, as in the real meta file).
CIFAR100_FINE: Tuple[str, ...] = tuple(
    sorted(n for _, fine in _CIFAR100_SUPERCLASSES for n in fine))
#: The 20 CIFAR-100 coarse label names in label order.
CIFAR100_COARSE: Tuple[str, ...] = tuple(sorted(c for c, _ in _CIFAR100_SUPERCLASSES))
#: fine label index -> coarse label index.
CIFAR100_FINE_TO_COARSE: Tuple[int, ...] = tuple(
    CIFAR100_COARSE.index(next(c for c, fine in _CIFAR100_SUPERCLASSES if name in fine))
    for name in CIFAR100_FINE)


def voc_palette(num_colors: int = 256) -> List[Tuple[int, int, int]]:
    """The PASCAL VOC colour map (the one stored in the VOC ``SegmentationClass`` PNGs).

    Label ``i`` gets the colour whose R, G, B bits are the interleaved bits of ``i``
    (bit 0 -> R, bit 1 -> G, bit 2 -> B, from the most significant bit of each channel down).

    Args:
        num_colors (int): How many entries to return (256 for a full 'P' palette).

    Returns:
        list[tuple[int, int, int]]: RGB triples; entry 0 is black, entry 255 is (224, 224, 192).
    """
    palette = []
    for label in range(num_colors):
        rgb = [0, 0, 0]
        value = label
        for bit in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << bit
            value >>= 3
        palette.append(tuple(rgb))
    return palette


assert len(VOC_CLASSES) == 20 and len(COCO_CATEGORIES) == 80
assert len(CIFAR100_FINE) == 100 and len(CIFAR100_COARSE) == 20
