/* The one table of config keys: type, place in `config`, default, allowed values, help.
 * Parsing, validation, `ancd config` and `ancd config --doc` are all driven by it; the rows of a
 * section must stay together (config_to_yaml groups by section in this order).
 * Defaults: MuSc musc_hetmm_spec §A.2, AnomalyNCD anomalyncd_spec §1.5, §2.6, §5.6; the default
 * backbone is a random ViT-Ti/16 so nothing needs a download (hence 12-block layers 3,6,9,12). */
#include "config_schema.h"

#include <limits.h>

#include "config.h"

#define FIELD(m) .offset = offsetof(config, m), .size = sizeof(((config *)0)->m)
#define RANGE(lo, hi) .ranged = 1, .min = (lo), .max = (hi)

const cfg_key cfg_schema[] = {
    /* dataset */
    {"dataset.name", CFG_STRING, FIELD(dataset.name), .def = "''",
     .help = "output folder name <output.dir>/<name>/; empty: the layout name"},
    {"dataset.layout", CFG_ENUM, FIELD(dataset.layout),
     .allowed = "mvtec|btad|visa|mtd|folder|anomalies", .def = "mvtec",
     .help = "file layout of the dataset (README: Datasets)"},
    {"dataset.root", CFG_STRING, FIELD(dataset.root), .def = "''",
     .help = "dataset root folder, used as given (a relative path is relative to the current "
             "directory, not to the config file)"},
    {"dataset.categories", CFG_NAMES, FIELD(dataset.categories), .def = "[]",
     .help = "categories to process; empty: every category found under root"},
    {"dataset.split_file", CFG_STRING, FIELD(dataset.split_file), .def = "''",
     .help = "visa: the split CSV; mtd: the train-list file; relative to root"},
    {"dataset.normal_type", CFG_STRING, FIELD(dataset.normal_type), .def = "good",
     .help = "name of the normal (defect-free) type: good (mvtec, folder), ok (btad)"},
    {"dataset.mask_dir", CFG_STRING, FIELD(dataset.mask_dir), .def = "''",
     .help = "folder layout: mask folder relative to the category; empty: no masks"},
    {"dataset.mask_suffix", CFG_STRING, FIELD(dataset.mask_suffix), .def = "_mask.png",
     .help = "mask file name = <image stem><suffix> (stem: the file name up to its first dot)"},

    /* backbone */
    {"backbone.weights", CFG_STRING, FIELD(backbone.weights), .def = "random",
     .help = "backbone weights as a safetensors path, or random (deterministic, see "
             "backbone.arch): a ViT, or for detect.method: hetmm a torchvision WideResNet/ResNet "
             "(keys layer1.0.conv1.weight, ...; README: Detection with HETMM)"},
    {"backbone.family", CFG_ENUM, FIELD(backbone.family), .allowed = "auto|clip|dino|dinov2|timm",
     .def = "auto", .help = "checkpoint family (key names, normalisation); auto: from the keys"},
    {"backbone.arch", CFG_STRING, FIELD(backbone.arch), .def = "vit_tiny_patch16",
     .help = "architecture of random weights: a ViT, e.g. vit_tiny_patch16, vit_small_patch16, "
             "or (detect.method: hetmm only) wide_resnet50_2, wide_resnet101_2; with a "
             "WideResNet file a ResNet name here must match it"},
    {"backbone.activation", CFG_ENUM, FIELD(backbone.activation), .allowed = "auto|gelu|quick_gelu",
     .def = "auto", .help = "MLP activation; auto: the family's (quick_gelu for OpenAI CLIP)"},
    {"backbone.mean", CFG_FLOATS, FIELD(backbone.mean), .max_n = 3, RANGE(-10, 10), .def = "[]",
     .help = "per-channel input mean (RGB); empty: the family's default (a WideResNet: "
             "HETMM's, std with its 0.256 typo)"},
    {"backbone.std", CFG_FLOATS, FIELD(backbone.std), .max_n = 3, RANGE(1e-6, 10), .def = "[]",
     .help = "per-channel input std (RGB); empty: the family's default (a WideResNet: "
             "HETMM's, std with its 0.256 typo)"},

    /* detect: MuSc musc_hetmm_spec §A.2 */
    {"detect.method", CFG_ENUM, FIELD(detect.method), .allowed = "musc|hetmm|import", .def = "musc",
     .help = "anomaly maps by MuSc, HETMM, or imported PNG maps (detect.maps_root)"},
    {"detect.image_size", CFG_INT, FIELD(detect.image_size), RANGE(16, 4096), .def = "224",
     .help = "square input side in pixels (MuSc: 518 with ViT-L-14-336; HETMM: 256, a "
             "multiple of 16 with a WideResNet)"},
    {"detect.layers", CFG_INTS, FIELD(detect.layers), .min_n = 1, RANGE(1, 64),
     .def = "[3, 6, 9, 12]",
     .help = "1-based ViT blocks whose outputs are used ([6,12,18,24] for 24-block ViTs); "
             "with a WideResNet its stages 1..3 (HETMM: [1, 2, 3])"},
    {"detect.r_list", CFG_INTS, FIELD(detect.r_list), .min_n = 1, RANGE(1, 63), .def = "[1, 3, 5]",
     .help = "LNAMD aggregation degrees r"},
    {"detect.topmin_min", CFG_FLOAT, FIELD(detect.topmin_min), RANGE(0, 1), .def = "0.0",
     .help = "MSM interval average: lower bound of the fraction of smallest scores"},
    {"detect.topmin_max", CFG_FLOAT, FIELD(detect.topmin_max), RANGE(0, 1), .def = "0.3",
     .help = "MSM interval average: upper bound of the fraction of smallest scores"},
    {"detect.reference", CFG_ENUM, FIELD(detect.reference), .allowed = "none|train", .def = "none",
     .help = "none: zero-shot (MuSc); train: the category's normal training images join the "
             "mutual scoring as references (scored against, never scored)"},
    {"detect.reference_score", CFG_ENUM, FIELD(detect.reference_score),
     .allowed = "nearest|pool|mean", .def = "nearest",
     .help = "with references, a test patch's score: nearest: distance to the nearest reference "
             "image; pool: the interval average over test and reference images; mean: of both"},
    {"detect.keep_features", CFG_BOOL, FIELD(detect.keep_features), .def = "false",
     .help = "also store the scoring pool's features in features.h5, which `ancd predict` "
             "scores new images against"},
    {"detect.divide_num", CFG_INT, FIELD(detect.divide_num), RANGE(1, 1024), .def = "1",
     .help = "number of disjoint subsets scored separately (musc §A.6.5)"},
    {"detect.rscin", CFG_ENUM, FIELD(detect.rscin), .allowed = "auto|on|off", .def = "auto",
     .help = "RsCIN re-scoring of the image scores; auto: on when zero-shot, off with references "
             "(measured on MTD: it lowers image AUROC from 0.96 to 0.89 there)"},
    {"detect.rscin_windows", CFG_INTS, FIELD(detect.rscin_windows), RANGE(1, 1000),
     .def = "[1, 2, 3]", .help = "RsCIN neighbourhood sizes: [1,2,3] mvtec/btad, [1,8,9] visa"},
    {"detect.batch_size", CFG_INT, FIELD(detect.batch_size), RANGE(1, 4096), .def = "4",
     .help = "images per feature-extraction batch"},
    {"detect.vis", CFG_ENUM, FIELD(detect.vis), .allowed = "none|single_norm|whole_norm",
     .def = "none", .help = "heat-map PNGs: none, each map normalised alone, or per category"},
    {"detect.maps_root", CFG_STRING, FIELD(detect.maps_root), .def = "''",
     .help = "method import: folder of anomaly-map PNGs mirroring the dataset layout"},

    /* hetmm: musc_hetmm_spec Part B (read when detect.method is hetmm) */
    {"hetmm.templates", CFG_ENUM, FIELD(hetmm.templates), .allowed = "all|pts", .def = "all",
     .help = "template sheets: all (every normal training image, §B.5.1) or pts (K per pixel "
             "position by OPTICS + PTS, §B.5.2-3)"},
    {"hetmm.tsize", CFG_INT, FIELD(hetmm.tsize), RANGE(1, 1000000), .def = "60",
     .help = "pts: K sheets per position; K > the normal images is an error (OPTICS' min_samples "
             "= N // K is 0), N // K = 1 uses min_samples = N (sklearn 0.24)"},
    {"hetmm.fwd_windows", CFG_INTS, FIELD(hetmm.fwd_windows), .min_n = 1, RANGE(1, 63),
     .def = "[5]",
     .help = "forward (query -> template) window f per detect.layers entry, odd; "
             "one value: every layer"},
    {"hetmm.bwd_windows", CFG_INTS, FIELD(hetmm.bwd_windows), .min_n = 1, RANGE(1, 63),
     .def = "[3]",
     .help = "backward (template -> query) window b per layer, odd; one: every layer"},
    {"hetmm.alpha", CFG_FLOATS, FIELD(hetmm.alpha), .min_n = 1, RANGE(0, 1), .def = "[0.5]",
     .help = "per layer: weight of the forward map, alpha F + (1 - alpha) B; one: every layer"},
    {"hetmm.lambda", CFG_FLOATS, FIELD(hetmm.lambda), .min_n = 1, RANGE(0, 1000), .def = "[1.0]",
     .help = "per layer: weight of the layer in the sum over layers; one: every layer"},
    {"hetmm.post_image", CFG_STRING, FIELD(hetmm.post_image), .def = "clean",
     .help = "image score (§B.7): clean (map max), blur_s=<sigma>_k=<k> (max of the blurred "
             "map) or mp_k=<k> (mean of the k x k block maxima)"},
    {"hetmm.post_pixel", CFG_STRING, FIELD(hetmm.post_pixel), .def = "clean",
     .help = "the map in maps.h5 and of the pixel metrics: clean or blur_s=<sigma>_k=<k>"},
    {"hetmm.post_pro", CFG_STRING, FIELD(hetmm.post_pro), .def = "clean",
     .help = "the map AUPRO is computed on: clean or blur_s=<sigma>_k=<k>"},
    {"hetmm.pro_variant", CFG_BOOL, FIELD(hetmm.pro_variant), .def = "false",
     .help = "metrics.json also gets pro_hetmm, HETMM's own PRO (§B.8: 300 thresholds, both "
             "axes rescaled); the tables keep the standard AUPRO"},

    /* regions: AnomalyNCD MEBin anomalyncd_spec §1.5, §2.6 */
    {"regions.sample_rate", CFG_INT, FIELD(regions.sample_rate), RANGE(1, 255), .def = "4",
     .help = "MEBin threshold sweep step (from 255 down to 3)"},
    {"regions.min_interval_len", CFG_INT, FIELD(regions.min_interval_len), RANGE(1, 255),
     .def = "4", .help = "MEBin: consecutive sweep thresholds with the same region count"},
    {"regions.erode_kernel", CFG_INT, FIELD(regions.erode_kernel), RANGE(0, 64), .def = "6",
     .help = "side of the square erosion kernel of MEBin; 0: no erosion"},
    {"regions.search_min", CFG_INT, FIELD(regions.search_min), RANGE(-1, 254), .def = "-1",
     .help = "MEBin's lower bound MIN (§2.1); -1: the least of the maps' peaks. Set it (e.g. 0) "
             "when a category has no normal images, as the authors advise (their issue #8)"},
    {"regions.vis", CFG_BOOL, FIELD(regions.vis), .def = "false",
     .help = "write a PNG per image: the jet map over it with the kept crop boxes"},

    /* train: MGViT anomalyncd_spec §1.5, §5.6 */
    {"train.epochs", CFG_INT, FIELD(train.epochs), RANGE(1, 100000), .def = "50",
     .help = "training epochs (cosine LR schedule over them)"},
    {"train.batch_size", CFG_INT, FIELD(train.batch_size), RANGE(1, 65536), .def = "32",
     .help = "samples per step over all ranks (each sample gives 2 views)"},
    {"train.lr", CFG_FLOAT, FIELD(train.lr), RANGE(0, 10), .def = "0.003",
     .help = "SGD base learning rate"},
    {"train.grad_from_block", CFG_INT, FIELD(train.grad_from_block), RANGE(0, 4096), .def = "0",
     .help = "1-based first trained block of the backbone (anomalyncd §5.2); 0: the last block"},
    {"train.mask_layers", CFG_INT, FIELD(train.mask_layers), RANGE(0, 4096), .def = "9",
     .help = "mask-guided attention on the CLS query in the last this many blocks (§5.3)"},
    {"train.n_novel", CFG_INT, FIELD(train.n_novel), RANGE(-1, 1000), .def = "-1",
     .help =
         "novel classes K; -1: the number of types among the regions' images, good included "
         "(the oracle K of anomalyncd §5.10); 0: estimated from the novel crops (train.k_method)"},
    {"train.k_max", CFG_INT, FIELD(train.k_max), RANGE(2, 1000), .def = "10",
     .help = "K estimate: the largest K considered (from 2); model.h5 records the estimate always"},
    {"train.k_method", CFG_ENUM, FIELD(train.k_method), .allowed = "eigengap|silhouette",
     .def = "eigengap",
     .help = "K estimate from the pretrained backbone's crop features: spectral eigengap or the "
             "best k-means silhouette"},
    {"train.proto_init", CFG_ENUM, FIELD(train.proto_init), .allowed = "random|kmeans",
     .def = "random",
     .help = "novel prototypes at the start: random (the reference, §5.4) or the k-means centres "
             "of the backbone's crop features (ancd's option)"},
    {"train.checkpoint_every", CFG_INT, FIELD(train.checkpoint_every), RANGE(0, 100000),
     .def = "10", .help = "write model.h5 every this many epochs; 0: only at the end"},
    {"train.base", CFG_STRING, FIELD(train.base), .def = "none",
     .help = "labeled base set (anomalyncd §4): none, a base.h5 file (ancd base) or an "
             "AeBAD_crop-style folder (README: Base sets)"},

    /* classify */
    {"classify.merge_temperature", CFG_FLOAT, FIELD(classify.merge_temperature), RANGE(0, 1e9),
     .def = "0",
     .help = "region merging: crop weights softmax(sqrt(mask area) / T) (anomalyncd "
             "§6); 0: 100 for the mvtec and anomalies layouts, 50 otherwise"},
    {"classify.gallery_size", CFG_INT, FIELD(classify.gallery_size), RANGE(0, 64), .def = "8",
     .help = "crops per discovered class in gallery.png (the most confident); 0: no gallery"},

    /* parallel */
    {"parallel.group_size", CFG_INT, FIELD(parallel.group_size), RANGE(0, INT_MAX), .def = "0",
     .help = "MPI ranks per category group; 0: the whole world works on each category"},

    /* io */
    {"io.max_bad_fraction", CFG_FLOAT, FIELD(io.max_bad_fraction), RANGE(0, 1), .def = "0.0",
     .help = "fraction of unreadable or corrupt files a category tolerates (skipped, reported)"},

    /* output */
    {"output.dir", CFG_STRING, FIELD(output.dir), .def = "out",
     .help = "root of all outputs: <dir>/<dataset.name>/<category>/ (-o sets it)"},

    /* top level */
    {"device", CFG_ENUM, FIELD(device), .allowed = "auto|cpu|cuda", .def = "auto",
     .help = "compute device; auto: CUDA when a GPU is present, else CPU"},
    {"precision", CFG_ENUM, FIELD(precision), .allowed = "fp32|tf32|bf16", .def = "fp32",
     .help = "GPU matmul precision; fp32 is the parity mode"},
    {"seed", CFG_INT, FIELD(seed), RANGE(0, INT_MAX), .def = "42",
     .help = "seed of every random choice (random weights, training, sampling)"},
};

const int cfg_schema_n = (int)(sizeof cfg_schema / sizeof cfg_schema[0]);
