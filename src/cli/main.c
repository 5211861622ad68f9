/* main.c: the cnnf command line: argument parsing, usage, messages and exit status. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conv.h"
#include "task/describe.h"
#include "task/infer.h"
#include "nn/graph.h"
#include "nn/onnx.h"
#include "base/error.h"
#include "base/simd.h"
#include "filter/filter.h"
#include "image/image.h"
#include "io/io.h"
#include "cli/batch.h"
#include "engine/kernel.h"
#include "filter/point.h"
#include "nn/model.h"
#include "nn/model_save.h"
#include "nn/net.h"
#include "nn/pass.h"
#include "io/output.h"
#include "engine/pool.h"
#include "task/segment.h"
#include "engine/tensor.h"
#include "task/augment.h"
#include "task/train.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef CNNF_VERSION
#define CNNF_VERSION "unknown"
#endif

/* Exit statuses, as documented in cnnf(1). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Option groups; each command accepts some of them. */
enum {
	G_KERNEL = 1 << 0,   /* --kernel, --kernel-string, --normalize */
	G_GEOM = 1 << 1,     /* --pad, --border, --stride, --dilation, --flip */
	G_SHOW = 1 << 2,     /* --abs, --offset */
	G_SIZE = 1 << 3,     /* --size */
	G_AMOUNT = 1 << 4,   /* --amount */
	G_SHIFT = 1 << 5,    /* --dx, --dy */
	G_FACTOR = 1 << 6,   /* --factor */
	G_GAMMA = 1 << 7,    /* --gamma */
	G_POOL = 1 << 8,     /* --stride (pooling) */
	G_IMAGE = 1 << 9,    /* --format, --depth (and G_READ, G_QUALITY) */
	G_THREADS = 1 << 10, /* --threads */
	G_BORDER = 1 << 11,  /* --border */
	G_SEGMENT = 1 << 12, /* --model, --mode, --probs, --overlay, --quiet */
	G_READ = 1 << 13,    /* --max-pixels */
	G_QUALITY = 1 << 14, /* --quality */
	G_MODEL = 1 << 15,   /* --max-activations */
	G_TRAIN = 1 << 16,   /* --output, --epochs, ... */
	G_QUIET = 1 << 17,   /* --quiet */
	G_NET = 1 << 18,     /* --model */
	G_WORK = 1 << 19,    /* --max-work */
	G_NORM = 1 << 20,    /* --mean, --std (graph models) */
	G_SCALE = 1 << 21,   /* --scale (models' float inputs) */
	G_SIGMA = 1 << 22,   /* --sigma */
	G_BATCH = 1 << 23,   /* --outdir, --suffix, --name, --skip-existing, --files-from */
};

enum {
	O_KERNEL = 'k',
	O_PAD = 'p',
	O_BORDER = 'b',
	O_SIZE = 's',
	O_THREADS = 't',
	O_FORMAT = 'f',
	O_QUALITY = 'q',
	O_HELP = 'h',
	O_VERSION = 'V',
	O_KSTRING = 256,
	O_NORMALIZE,
	O_STRIDE,
	O_DILATION,
	O_FLIP,
	O_ABS,
	O_OFFSET,
	O_AMOUNT,
	O_DX,
	O_DY,
	O_FACTOR,
	O_GAMMA,
	O_DEPTH,
	O_MAXPIX,
	O_MODE,
	O_PROBS,
	O_OVERLAY,
	O_OUTDIR,
	O_QUIET,
	O_MAXACT,
	O_EPOCHS,
	O_BATCH,
	O_LR,
	O_MOMENTUM,
	O_DECAY,
	O_OPTIMIZER,
	O_BETA1,
	O_BETA2,
	O_EPS,
	O_SCHEDULE,
	O_WARMUP,
	O_STEPSIZE,
	O_VALSPLIT,
	O_SEED,
	O_BALANCE,
	O_IGNORE,
	O_CHECKPOINT,
	O_AUGMENT,
	O_CLASSW,
	O_PATIENCE,
	O_HOLDOUT,
	O_SCALE,
	O_CHANNELS,
	O_ARCH,
	O_NORM_AUTO,
	O_MAXWORK,
	O_MEAN,
	O_STD,
	O_PAGE,
	O_SIGMA,
	O_FLATTEN,
	O_SUFFIX,
	O_NAME,
	O_SKIP,
	O_FILES_FROM,
	O_SUBSAMPLING,
	O_NOAUTOROT,
	O_STRIP,
	O_MODEL = 'm',
	O_OUTPUT = 'o',
};

typedef struct optdesc {
	const char *name;
	int has_arg; /* 0, 1, or 2: optional (--name=ARG only) */
	int val;
	unsigned groups; /* the option is accepted by commands with any of these groups */
	const char *arg;
	const char *help;
} optdesc;

static const optdesc optdescs[] = {
	{"kernel", 1, O_KERNEL, G_KERNEL, "FILE", "kernel file (cnnf-kernel(5), or libvips .mat)"},
	{"kernel-string", 1, O_KSTRING, G_KERNEL, "TEXT", "kernel rows inline, ';' between rows"},
	{"normalize", 0, O_NORMALIZE, G_KERNEL, NULL, "divide each filter by its sum"},
	{"size", 1, O_SIZE, G_SIZE, "N", "kernel or window size (info: a model's input, HxW)"},
	{"amount", 1, O_AMOUNT, G_AMOUNT, "A",
	 "strength (sharpen, unsharp: 1; darken/lighten: 128)"},
	{"sigma", 1, O_SIGMA, G_SIGMA, "S", "Gaussian standard deviation in pixels (unsharp: 1)"},
	{"dx", 1, O_DX, G_SHIFT, "N", "move the content N pixels right (negative: left)"},
	{"dy", 1, O_DY, G_SHIFT, "N", "move the content N pixels down (negative: up)"},
	{"factor", 1, O_FACTOR, G_FACTOR, "F", "multiply every sample by F"},
	{"pad", 1, O_PAD, G_GEOM, "same|valid|N", "padding (default same)"},
	{"border", 1, O_BORDER, G_BORDER, "MODE",
	 "zero, replicate, reflect, symmetric or wrap (default reflect)"},
	{"stride", 1, O_STRIDE, G_GEOM | G_POOL, "N", "step between outputs (default 1; pools: size)"},
	{"dilation", 1, O_DILATION, G_GEOM, "N", "spacing of kernel taps (default 1)"},
	{"flip", 0, O_FLIP, G_GEOM, NULL, "rotate the kernel 180 degrees (true convolution)"},
	{"abs", 0, O_ABS, G_SHOW, NULL, "write the absolute value of each response"},
	{"offset", 1, O_OFFSET, G_SHOW, "V", "add V to each response (after --abs)"},
	{"model", 1, O_MODEL, G_NET, "FILE", "the model file (cnnf-model(5) or ONNX)"},
	{"mean", 1, O_MEAN, G_NORM, "M[,M..]",
	 "ONNX: subtract M (0..1 scale; one, or one a channel)"},
	{"std", 1, O_STD, G_NORM, "S[,S..]", "ONNX: then divide by S (default 1)"},
	{"channels", 1, O_CHANNELS, G_NORM, "gray|rgb",
	 "convert the image to the model's channels (alpha dropped)"},
	{"scale", 1, O_SCALE, G_SCALE, "MAX",
	 "divide float samples (a .npy) by MAX (default: as they are)"},
	{"output", 1, O_OUTPUT, G_TRAIN, "FILE", "where the trained model goes (.onnx: as ONNX)"},
	{"epochs", 1, O_EPOCHS, G_TRAIN, "N", "passes over the training pixels (default 10)"},
	{"batch", 1, O_BATCH, G_TRAIN, "N", "patches per step (default 64)"},
	{"optimizer", 1, O_OPTIMIZER, G_TRAIN, "sgd|adam|adamw",
	 "torch.optim's SGD (default), Adam or AdamW"},
	{"lr", 1, O_LR, G_TRAIN, "R", "learning rate (default: sgd 0.01, adam and adamw 0.001)"},
	{"momentum", 1, O_MOMENTUM, G_TRAIN, "M", "sgd: momentum, 0 <= M < 1 (default 0.9)"},
	{"beta1", 1, O_BETA1, G_TRAIN, "B", "adam, adamw: first moment's decay, 0 <= B < 1 (default 0.9)"},
	{"beta2", 1, O_BETA2, G_TRAIN, "B", "adam, adamw: second moment's decay (default 0.999)"},
	{"eps", 1, O_EPS, G_TRAIN, "E", "adam, adamw: added to the denominator (default 1e-8)"},
	{"weight-decay", 1, O_DECAY, G_TRAIN, "L",
	 "decay of conv and fc weights (adamw: decoupled; default: sgd 5e-4, adam 0, adamw 0.01)"},
	{"schedule", 1, O_SCHEDULE, G_TRAIN, "constant|step|cosine",
	 "the learning rate over the run, changed every step (default constant)"},
	{"warmup", 1, O_WARMUP, G_TRAIN, "N", "epochs of linear warmup first, N < --epochs (default 0)"},
	{"step-size", 1, O_STEPSIZE, G_TRAIN, "N",
	 "step: epochs between decays by --gamma (default: a third of the run after warmup)"},
	{"gamma", 1, O_GAMMA, G_GAMMA | G_TRAIN, "G",
	 "max * (x / max) ^ G (train: the step schedule's factor, default 0.1)"},
	{"val-split", 1, O_VALSPLIT, G_TRAIN, "F",
	 "fraction of every image held back for validation (default 0.1)"},
	{"arch", 1, O_ARCH, G_TRAIN, "small|medium|large",
	 "a built-in architecture instead of --model (see cnnf(1))"},
	{"holdout", 1, O_HOLDOUT, G_TRAIN, "blocks|columns",
	 "hold back random 32x32 blocks (default) or the right-hand columns"},
	{"normalize", 1, O_NORM_AUTO, G_TRAIN, "auto",
	 "measure the images' mean and std and write them into the model"},
	{"seed", 1, O_SEED, G_TRAIN, "N", "seeds weights, patch order, dropout (default 1)"},
	{"balance", 0, O_BALANCE, G_TRAIN, NULL, "draw every class equally often"},
	{"ignore", 1, O_IGNORE, G_TRAIN, "N", "label value of unlabelled pixels"},
	{"checkpoint", 1, O_CHECKPOINT, G_TRAIN, "FILE", "also write the best epoch's model here"},
	{"augment", 1, O_AUGMENT, G_TRAIN, "LIST",
	 "random flips, quarter turns, contrast and brightness: flip,rot90,jitter (any)"},
	{"class-weights", 1, O_CLASSW, G_TRAIN, "auto|W,W..",
	 "weighted cross-entropy; auto: inverse class frequency, mean 1"},
	{"patience", 1, O_PATIENCE, G_TRAIN, "N",
	 "stop after N epochs without a better validation accuracy"},
	{"mode", 1, O_MODE, G_SEGMENT, "patch|dense", "patch (the reference) or dense (default)"},
	{"probs", 1, O_PROBS, G_SEGMENT, "FILE.npy",
	 "also write the class probabilities (H, W, K) (--outdir: a name with %s)"},
	{"overlay", 1, O_OVERLAY, G_SEGMENT, "FILE",
	 "also write the input blended with the labels (--outdir: a name with %s)"},
	{"outdir", 1, O_OUTDIR, G_BATCH, "DIR",
	 "write each INPUT's result into DIR (made if missing), as NAME.EXT"},
	{"suffix", 1, O_SUFFIX, G_BATCH, "TEXT", "--outdir: NAME then TEXT (NAME-blur.png)"},
	{"name", 1, O_NAME, G_BATCH, "PATTERN",
	 "--outdir: the output's file name, %s for the input's (e.g. '%s.png')"},
	{"skip-existing", 0, O_SKIP, G_BATCH, NULL, "--outdir: skip inputs whose outputs exist"},
	{"files-from", 1, O_FILES_FROM, G_BATCH, "LIST",
	 "--outdir: also the inputs named in LIST, one a line ('-': stdin)"},
	{"quiet", 0, O_QUIET, G_QUIET, NULL, "no progress line on a terminal"},
	{"format", 1, O_FORMAT, G_IMAGE, "FMT",
	 "output format: png, jpg, pnm, pgm, ppm, pbm, pam, tif or npy"},
	{"page", 1, O_PAGE, G_IMAGE | G_SEGMENT, "N",
	 "TIFF page to read, from 0 (default: all, or the first)"},
	{"quality", 1, O_QUALITY, G_IMAGE | G_QUALITY, "N", "JPEG quality 1..100 (default 90)"},
	{"subsampling", 1, O_SUBSAMPLING, G_IMAGE | G_QUALITY, "444|422|420",
	 "JPEG chroma subsampling (default 444 at quality 90 and up, else 420)"},
	{"depth", 1, O_DEPTH, G_IMAGE, "8|16", "PNG bits per sample (default: the input's)"},
	{"flatten", 2, O_FLATTEN, G_IMAGE, "COLOUR",
	 "composite alpha over COLOUR (white, black, #rrggbb; default white)"},
	{"no-autorotate", 0, O_NOAUTOROT, G_IMAGE | G_SEGMENT, NULL,
	 "keep a JPEG's or TIFF's stored orientation (default: turn it upright)"},
	{"strip", 0, O_STRIP, G_IMAGE | G_SEGMENT, NULL,
	 "write no metadata (default: keep ICC profile, EXIF, XMP, text, resolution)"},
	{"max-pixels", 1, O_MAXPIX, G_IMAGE | G_READ, "N", "refuse larger images (default 268435456; 0: no limit)"},
	{"max-activations", 1, O_MAXACT, G_MODEL, "N",
	 "refuse models with a larger layer (C*H*W; ONNX: floats alive at once, else tiles; default 67108864)"},
	{"max-work", 1, O_MAXWORK, G_WORK, "N",
	 "refuse a run of more multiply-adds (default 1e13; 0: no limit)"},
	{"threads", 1, O_THREADS, G_THREADS, "N", "worker threads (default 0: all cores)"},
	{"help", 0, O_HELP, ~0u, NULL, "describe the command and exit"},
	{"version", 0, O_VERSION, ~0u, NULL, "print the version and exit"},
};
#define NOPTS (sizeof optdescs / sizeof *optdescs)

typedef struct options {
	const char *kernel, *kernel_string;
	int normalize, flip;
	int size, size_set;
	double amount;
	int amount_set;
	double sigma;
	int sigma_set;
	int dx, dy;
	double factor, gamma;
	int factor_set, gamma_set;
	int pool_stride;
	cnnf_filter_opts f;
	cnnf_write_opts w;
	unsigned long long max_pixels;
	double max_work; /* --max-work: multiply-adds a run may take; 0: no limit */
	const char *model, *arch, *probs, *overlay, *outdir;
	const char *suffix, *name, *files_from; /* --suffix, --name, --files-from */
	int skip_existing;
	char **inputs; /* --outdir: every input, operands then --files-from (ninputs) */
	int ninputs;
	unsigned scale; /* --scale: float samples divided by it (0: as they are) */
	int channels;   /* --channels: 1 gray, 3 RGB, 0 the image's own */
	/* A decoder's warning about the input, said once the command has worked (a failure is one line). */
	char warning[600];
	int quiet;
	cnnf_model_limits limits;
	cnnf_train_opts train;
	const char *output;
	cnnf_segment_opts seg;
	cnnf_infer_opts inf;
	int in_h, in_w; /* info --size HxW */
	int page;       /* --page: the page to read (0-based); -1: every page, or the first */
	int no_autorotate; /* --no-autorotate: JPEGs as stored, not turned upright */
	int strip;         /* --strip: outputs without the input's metadata */
	cnnf_meta meta;    /* the metadata of the image read_image() read last */
	cnnf_warn wwarn;   /* what a writer left out of the last output (o->w.warn) */
	/* train: options given that apply to one optimiser or schedule, checked against it */
	const char *sgd_only, *adam_only, *step_only;
	double class_weights[CNNF_TRAIN_MAX_WEIGHTS]; /* --class-weights W,W..: o->train.weights */
	const char *class_weights_arg;                /* as given, for the first line */
} options;

struct command;
typedef int (*runner)(const struct command *cmd, options *o, char **operands);

typedef struct command {
	const char *name;
	const char *summary; /* one line for cnnf --help */
	const char *about;   /* a paragraph for cnnf COMMAND --help */
	unsigned groups;
	int operands; /* 1: FILE; 2: INPUT OUTPUT (or INPUT... with --outdir, G_BATCH);
			 3: LIST (train) */
	runner run;
} command;

static int run_filter(const command *cmd, options *o, char **ops);
static int run_point(const command *cmd, options *o, char **ops);
static int run_pool(const command *cmd, options *o, char **ops);
static int run_info(const command *cmd, options *o, char **ops);
static int run_segment(const command *cmd, options *o, char **ops);
static int run_apply(const command *cmd, options *o, char **ops);
static int run_train(const command *cmd, options *o, char **ops);

#define FILTER (G_GEOM | G_BORDER | G_SHOW | G_IMAGE | G_THREADS | G_WORK)
static const command commands[] = {
	{"identity", "copy the image through the whole pipeline unchanged",
	 "Copies INPUT to OUTPUT through the whole pipeline (reader, 1x1 identity kernel, "
	 "writer); use it to convert between formats.",
	 G_BATCH | G_IMAGE | G_THREADS | G_WORK, 2, run_filter},
	{"box", "box blur: the mean of a size x size neighbourhood (default 3)",
	 "Replaces each sample by the mean of the N x N samples around it (--size, default 3).",
	 G_BATCH | FILTER | G_SIZE, 2, run_filter},
	{"blur", "the same as box (the lecture's box blur; see gaussian)",
	 "The same as box: the lecture's box filter, the mean of N x N samples. For what "
	 "libvips and ImageMagick call blur, a Gaussian, use gaussian --sigma S.",
	 G_BATCH | FILTER | G_SIZE, 2, run_filter},
	{"gaussian", "blur by a Gaussian of standard deviation --sigma",
	 "Gaussian blur with standard deviation --sigma S pixels (required): a kernel of "
	 "radius ceil(3 S), weights exp(-d^2 / (2 S^2)) normalised to sum 1, run as two 1-D "
	 "passes summed in double and rounded once.",
	 G_BATCH | FILTER | G_SIGMA, 2, run_filter},
	{"unsharp", "unsharp mask: x + amount * (x - gaussian(x))",
	 "Sharpens by the difference from a Gaussian blur: x + A * (x - gaussian(x)), with "
	 "--sigma S (default 1) and --amount A (default 1), in double from the samples and "
	 "the unrounded blur, rounded once.",
	 G_BATCH | FILTER | G_SIGMA | G_AMOUNT, 2, run_filter},
	{"sharpen", "sharpen: identity + amount * (identity - box)",
	 "Adds back the difference from the local mean: identity + A * (identity - box N), "
	 "by default 2 * identity - box 3 (--amount 1, --size 3).",
	 G_BATCH | FILTER | G_SIZE | G_AMOUNT, 2, run_filter},
	{"shift", "move the content --dx right and --dy down",
	 "Moves the content N pixels right (--dx) and down (--dy) with a shift kernel; what "
	 "comes in at the edge is made by --border.",
	 G_BATCH | FILTER | G_SHIFT, 2, run_filter},
	{"conv", "correlate with a kernel file (--kernel) or inline kernel",
	 "Correlates the image with the kernel of --kernel FILE or --kernel-string TEXT "
	 "(cnnf-kernel(5)). A 2-D kernel filters each channel; a 3-D kernel (depth = "
	 "channels) or a bank of N of them gives N output channels.",
	 G_BATCH | FILTER | G_KERNEL, 2, run_filter},
	{"invert", "max - x", "Inverts every sample: max - x (alpha is kept).",
	 G_BATCH | G_IMAGE, 2, run_point},
	{"darken", "x - amount (default 128)", "Subtracts --amount (default 128) from every sample.",
	 G_BATCH | G_IMAGE | G_AMOUNT, 2, run_point},
	{"lighten", "x + amount (default 128)", "Adds --amount (default 128) to every sample.",
	 G_BATCH | G_IMAGE | G_AMOUNT, 2, run_point},
	{"contrast", "x * factor", "Multiplies every sample by --factor F (required).",
	 G_BATCH | G_IMAGE | G_FACTOR, 2, run_point},
	{"gamma", "max * (x / max) ^ gamma",
	 "Applies max * (x / max) ^ G with --gamma G (required): G < 1 raises dark tones.",
	 G_BATCH | G_IMAGE | G_GAMMA, 2, run_point},
	{"relu", "max(x, 0)", "Sets negative samples to zero (useful on .npy activations).",
	 G_BATCH | G_IMAGE, 2, run_point},
	{"gray", "to gray: Rec. 601 luma 0.299 R + 0.587 G + 0.114 B",
	 "Makes RGB gray with the Rec. 601 luma Y = 0.299 R + 0.587 G + 0.114 B of the samples "
	 "as they are (gamma-encoded, not linearised), rounded once; alpha is kept (RGBA gives "
	 "gray with alpha), the bit depth too. A gray image is copied unchanged.",
	 G_BATCH | G_IMAGE, 2, run_point},
	{"maxpool", "the maximum of each size x size window",
	 "Max pooling with a --size N window (default 2) moved by --stride (default N), "
	 "no padding, as PyTorch's MaxPool2d.",
	 G_BATCH | G_IMAGE | G_SIZE | G_POOL | G_WORK, 2, run_pool},
	{"avgpool", "the mean of each size x size window",
	 "Average pooling with a --size N window (default 2) moved by --stride (default N), "
	 "no padding, as PyTorch's AvgPool2d.",
	 G_BATCH | G_IMAGE | G_SIZE | G_POOL | G_WORK, 2, run_pool},
	{"segment", "label every pixel with a ConvNet (--model: cnnf-model or ONNX)",
	 "Runs the model of --model FILE on the patch around every pixel and writes the "
	 "argmax as a palette PNG label map (index = class id). With --outdir DIR, several "
	 "inputs are segmented with the model loaded once, into DIR/NAME.png (--probs and "
	 "--overlay then take file names with %s, as '%s-probs.npy'). An ONNX model "
	 "that is fully convolutional labels each pixel from its output 1 x K x H x W (see "
	 "cnnf-onnx(5)).",
	 G_SEGMENT | G_BATCH | G_NET | G_NORM | G_SCALE | G_QUIET | G_BORDER | G_THREADS | G_READ |
		 G_QUALITY | G_MODEL | G_WORK,
	 2, run_segment},
	{"apply", "run an image-to-image model (--model, ONNX) on the image",
	 "Runs the ONNX model of --model FILE on INPUT (1 x C x H x W: gray C = 1, RGB C = 3, "
	 "a .npy image any C; samples divided by the top of their scale, then (v - mean) / std) "
	 "and writes its output 1 x C x H' x W' as an image: values on the 0..1 scale times the "
	 "format's maximum, rounded half up and clamped (C = 1 gray, 3 RGB, 4 RGBA); OUTPUT.npy "
	 "gets the raw float32 values (H', W', C) for any C.",
	 G_BATCH | G_NET | G_NORM | G_SCALE | G_IMAGE | G_THREADS | G_READ | G_MODEL | G_WORK, 2, run_apply},
	{"train", "learn a patch classifier (--model) from images and label maps",
	 "Trains the model of --model ARCH (a model file ending in `weights init`, or a "
	 "trained one to fine-tune), or a built-in --arch, by mini-batch SGD with momentum, Adam or "
	 "AdamW (--optimizer, as torch.optim defines them; --schedule, --warmup) on the patches around "
	 "the labelled pixels of the images in LIST (one `IMAGE LABELS` pair per line), "
	 "and writes the result to --output. Patches are made exactly as segment makes "
	 "them. A line naming the optimiser, then one line per epoch: loss, training and "
	 "validation pixel accuracy, mean IoU, the learning rate of its last step.",
	 G_TRAIN | G_NET | G_SCALE | G_QUIET | G_BORDER | G_THREADS | G_READ | G_MODEL | G_WORK, 3, run_train},
	{"info", "describe a kernel or model file",
	 "For an image: format, size, channels, sample depth, pages, orientation and the metadata it holds (ICC profile, EXIF, XMP, text, resolution). For a kernel file: shape, parameter count, sum and separability. For a model file: "
	 "each layer's output shape and parameters, the total, the receptive field and the "
	 "multiply-adds per patch. For an ONNX model: its inputs and outputs, nodes by operator, "
	 "parameters, and for an input of --size HxW (or the size it declares) the output "
	 "shapes, multiply-adds and peak activation memory.",
	 G_MODEL | G_SIZE, 1, run_info},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

/*
 * The length of the valid UTF-8 sequence at s, of a character that is not a
 * control character (C1 controls, U+0080..U+009F, included), or 0.
 */
static size_t utf8_char(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (c < 0xC2 || c > 0xF4)
		return 0; /* a continuation byte, an overlong 0xC0 or 0xC1, or past U+10FFFF */
	unsigned cp = c & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	static const unsigned least[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0xA0)
		return 0;
	return n;
}

/*
 * Writes s to stderr so that it stays on one line and cannot drive the
 * terminal: a control byte (below 0x20, 0x7F) or a byte that is not part of
 * a valid UTF-8 character becomes a backslash escape (\n, \t, \r, or octal:
 * \033, \377), as GNU ls -b writes them. A backslash itself is kept as it
 * is, so that ordinary names read as they are.
 */
static void put_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n;
		if (*p >= 0x20 && *p < 0x7F) {
			n = 1;
		} else if ((n = utf8_char(p)) == 0) {
			const char *named = *p == '\n'   ? "\\n"
			                    : *p == '\t' ? "\\t"
			                    : *p == '\r' ? "\\r"
			                                 : NULL;
			if (named)
				fputs(named, stderr);
			else
				fprintf(stderr, "\\%03o", *p);
			p++;
			continue;
		}
		fwrite(p, 1, n, stderr);
		p += n;
	}
}

/* fmt and ap formatted into small (of size bytes) or, when longer, a malloc'd buffer. */
static char *vformat(char *small, size_t size, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(small, size, fmt, ap);
	char *big = NULL;
	if (n < 0)
		small[0] = '\0';
	else if ((size_t)n >= size && (big = malloc((size_t)n + 1)) != NULL)
		vsnprintf(big, (size_t)n + 1, fmt, again);
	va_end(again);
	/* Without the memory, the start of the message. */
	return big ? big : small;
}

/*
 * fprintf(stderr, fmt, ...) for a message that may hold names and bytes from
 * the user or a file: the text is escaped by put_escaped(), except a leading
 * carriage return (a progress line) and a final newline. Every message of
 * cnnf goes through here or usage_error().
 */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	va_start(ap, fmt);
	char *text = vformat(small, sizeof small, fmt, ap);
	va_end(ap);
	size_t len = strlen(text);
	int cr = text[0] == '\r', nl = len > 0 && text[len - 1] == '\n';
	if (nl)
		text[len - 1] = '\0';
	if (cr)
		fputc('\r', stderr);
	put_escaped(text + cr);
	if (nl)
		fputc('\n', stderr);
	if (text != small)
		free(text);
}

static void print_error(void)
{
	const char *msg = cnnf_error_get();
	say("cnnf: %s\n", *msg ? msg : "unknown error");
}

/*
 * print_error() for work on `name`: a message from deep in the engine that
 * names no file ("out of memory") is given the name of the file it is about.
 */
static void print_error_about(const char *name)
{
	const char *msg = cnnf_error_get();
	if (*msg && !strchr(msg, ':'))
		say("cnnf: %s: %s\n", name, msg);
	else
		print_error();
}

/* A usage error: "cnnf: " and the message, escaped, on stderr; returns EXIT_USAGE. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	va_start(ap, fmt);
	char *text = vformat(small, sizeof small, fmt, ap);
	va_end(ap);
	fputs("cnnf: ", stderr);
	put_escaped(text);
	fputc('\n', stderr);
	if (text != small)
		free(text);
	return EXIT_USAGE;
}

/* The command whose options are being read, for value_error()'s pointer to its help. */
static const struct command *reading_cmd;

/* A bad option value: "cnnf: CMD: --opt: ...; see 'cnnf CMD --help'" (exit status 2 follows). */
static void value_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error of a command: "cnnf: CMD: message; see 'cnnf CMD --help'"; returns EXIT_USAGE. */
static int cmd_usage(const struct command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cmd_usage(const struct command *cmd, const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	va_start(ap, fmt);
	char *text = vformat(small, sizeof small, fmt, ap);
	va_end(ap);
	int rc = usage_error("%s: %s; see 'cnnf %s --help'", cmd->name, text, cmd->name);
	if (text != small)
		free(text);
	return rc;
}

static void value_error(const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	va_start(ap, fmt);
	char *text = vformat(small, sizeof small, fmt, ap);
	va_end(ap);
	if (reading_cmd)
		cmd_usage(reading_cmd, "%s", text);
	else
		usage_error("%s", text);
	if (text != small)
		free(text);
}

static void print_help(void)
{
	printf("Usage: cnnf COMMAND [OPTION]... INPUT OUTPUT\n"
	       "  or:  cnnf COMMAND --outdir DIR [OPTION]... INPUT...\n"
	       "Filter images with convolution kernels, exactly and fast.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf("  %-9s %s\n", commands[i].name, commands[i].summary);
	printf("\nINPUT and OUTPUT may be '-' for standard input and output. Input formats\n"
	       "(PNG, JPEG, PNM, TIFF, NPY) are recognised from the data; the output format\n"
	       "comes from OUTPUT's extension or --format ('-': the input's). 'cnnf COMMAND\n"
	       "--help' lists a command's options; man cnnf has the whole story.\n\n"
	       "  -h, --help     show this help and exit\n"
	       "  -V, --version  print the version and exit\n");
}

/* Print text wrapped at 78 columns. */
static void print_wrapped(const char *text)
{
	int col = 0;
	while (*text) {
		size_t word = strcspn(text, " ");
		if (col > 0 && col + 1 + (int)word > 78) {
			putchar('\n');
			col = 0;
		} else if (col > 0) {
			putchar(' ');
			col++;
		}
		printf("%.*s", (int)word, text);
		col += (int)word;
		text += word;
		while (*text == ' ')
			text++;
	}
	putchar('\n');
}

static void print_command_help(const command *c)
{
	const char *model = c->groups & G_NET ? " --model MODEL" : "";
	if (c->operands == 2) {
		printf("Usage: cnnf %s%s [OPTION]... INPUT OUTPUT\n", c->name, model);
		if (c->groups & G_BATCH)
			printf("  or:  cnnf %s%s --outdir DIR [OPTION]... INPUT...\n", c->name, model);
	} else if (c->operands == 3)
		printf("Usage: cnnf %s (--model ARCH | --arch NAME) --output OUT [OPTION]... LIST\n", c->name);
	else
		printf("Usage: cnnf %s FILE\n", c->name);
	print_wrapped(c->about);
	printf("\nOptions:\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const optdesc *d = &optdescs[i];
		if (!(d->groups & c->groups) && d->groups != ~0u)
			continue;
		char left[64];
		char shortopt[8] = "    ";
		if (d->val < 256)
			snprintf(shortopt, sizeof shortopt, "-%c, ", d->val);
		snprintf(left, sizeof left, "%s--%s%s%s%s", shortopt, d->name,
			 d->has_arg == 2 ? "[=" : d->arg ? " " : "", d->arg ? d->arg : "",
			 d->has_arg == 2 ? "]" : "");
		printf("  %-26s %s\n", left, d->help);
	}
}

static const optdesc *find_opt(int val)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (optdescs[i].val == val)
			return &optdescs[i];
	return NULL;
}

/*
 * A number with a blank before or after it: refused at both ends, for
 * integers and reals alike (strtoll and strtod would skip a leading one only).
 */
static int blank_ends(const char *s)
{
	return *s && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[strlen(s) - 1]));
}

/* Strict integer: the whole string, within [min, max]. */
static int parse_long(const char *opt, const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (blank_ends(s) || errno || end == s || *end || v < min || v > max) {
		value_error("--%s: '%s' is not an integer from %lld to %lld", opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_int(const char *opt, const char *s, int min, int max, int *out)
{
	long long v;
	if (parse_long(opt, s, min, max, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * A finite real number, the whole string. strtod's ERANGE is not looked at:
 * it is set for a subnormal result too, which is finite and left to the
 * range; an overflow is infinite and refused here.
 */
static int parse_double(const char *opt, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (blank_ends(s) || end == s || *end || !isfinite(v)) {
		value_error("--%s: '%s' is not a finite number", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * A number within lo..hi; lo_open / hi_open exclude that end. `what` says
 * the range in the message ("a positive number", "in 0 <= M < 1").
 */
static int parse_range(const char *opt, const char *s, double lo, int lo_open, double hi,
                       int hi_open, const char *what, double *out)
{
	double v;
	if (parse_double(opt, s, &v) < 0)
		return -1;
	if (v < lo || (lo_open && v == lo) || v > hi || (hi_open && v == hi)) {
		value_error("--%s: '%s' is not %s", opt, s, what);
		return -1;
	}
	*out = v;
	return 0;
}

/* The largest padding, stride or dilation accepted: far beyond any image, still no overflow. */
#define GEOM_MAX   (1 << 20)
#define SIZE_MAX_K 4095
/*
 * The bound on --amount, --factor and --offset. A sample of an integer image
 * is at most 65535, so past that every sample is already black or white; the
 * margin leaves room for .npy data. Within it, the result on any 16-bit
 * sample is finite in the float32 of a .npy output (65535 * 1e6 < 1e11),
 * where --amount 1e308 gave inf, and sharpen's largest weight, size^2 *
 * (1 + A), stays below 2e13.
 */
#define LEVEL_MAX   1e6
#define LEVEL_RANGE "a number from -1000000 to 1000000"

/* --size HxW (or N for N x N) of info: 1 .. 2^20 each. */
static int parse_hw(const char *s, int *h, int *w)
{
	char *end;
	errno = 0;
	long a = strtol(s, &end, 10), b = a;
	if (!blank_ends(s) && !errno && end != s && (*end == 'x' || *end == 'X')) {
		const char *t = end + 1;
		b = strtol(t, &end, 10);
		if (end == t || !isdigit((unsigned char)*t))
			end = (char *)s;
	}
	if (blank_ends(s) || errno || end == s || *end || a < 1 || b < 1 || a > 1 << 20 ||
	    b > 1 << 20) {
		value_error("--size: '%s' is not HxW (or N) with sizes from 1 to %d", s, 1 << 20);
		return -1;
	}
	*h = (int)a;
	*w = (int)b;
	return 0;
}

/*
 * --mean and --std: one number, or a comma-separated one per channel;
 * positive: the values must be positive (std).
 */
static int parse_list(const char *opt, const char *s, int positive, float *v, int *n)
{
	int k = 0;
	const char *p = s;
	for (;;) {
		char *end;
		errno = 0;
		double x = strtod(p, &end);
		if (end == p || errno || isspace((unsigned char)*p) || !isfinite(x) ||
		    (positive && !(x > 0)) || fabs(x) > 1e6 || k == CNNF_INFER_MAX_CHANNELS ||
		    (*end && *end != ',') || (x != 0 && fabs(x) < 1e-30)) {
			value_error("--%s: '%s' is not a list of %s numbers (at most %d, comma-separated, "
			    "magnitude up to 1e6)",
			    opt, s, positive ? "positive" : "finite", CNNF_INFER_MAX_CHANNELS);
			return -1;
		}
		v[k++] = (float)x;
		if (!*end)
			break;
		p = end + 1;
	}
	*n = k;
	return 0;
}

/* --class-weights: auto, or positive weights W,W.. (one a class, checked against the model). */
static int parse_class_weights(const char *arg, options *o)
{
	o->class_weights_arg = arg;
	if (!strcmp(arg, "auto")) {
		o->train.weights_auto = 1;
		o->train.nweights = 0;
		return 0;
	}
	int k = 0;
	for (const char *p = arg;;) {
		char *end;
		errno = 0;
		double x = strtod(p, &end);
		if (end == p || isspace((unsigned char)*p) || !isfinite(x) || !(x > 0) || x > 1e30 ||
		    (*end && *end != ',') || k == CNNF_TRAIN_MAX_WEIGHTS) {
			value_error("--class-weights: '%s' is not auto or a list of positive numbers "
			    "(comma-separated, one a class, at most %d)", arg, CNNF_TRAIN_MAX_WEIGHTS);
			return -1;
		}
		o->class_weights[k++] = x;
		if (!*end)
			break;
		p = end + 1;
	}
	o->train.weights_auto = 0;
	o->train.weights = o->class_weights;
	o->train.nweights = k;
	return 0;
}

/* --flatten's COLOUR: a name or #rrggbb (NULL: white) into rgb. */
static int parse_colour(const char *arg, unsigned char rgb[3])
{
	static const struct {
		const char *name;
		unsigned char rgb[3];
	} names[] = {{"white", {255, 255, 255}}, {"black", {0, 0, 0}}, {"gray", {128, 128, 128}},
	             {"grey", {128, 128, 128}},  {"red", {255, 0, 0}}, {"green", {0, 128, 0}},
	             {"blue", {0, 0, 255}}};
	if (!arg)
		arg = "white";
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(arg, names[i].name) == 0) {
			memcpy(rgb, names[i].rgb, 3);
			return 0;
		}
	if (arg[0] == '#' && strlen(arg) == 7 && strspn(arg + 1, "0123456789abcdefABCDEF") == 6) {
		unsigned long v = strtoul(arg + 1, NULL, 16);
		for (int i = 0; i < 3; i++)
			rgb[i] = (unsigned char)(v >> (16 - 8 * i));
		return 0;
	}
	say("cnnf: --flatten: '%s' is not a colour: white, black, gray, red, green, blue or "
	    "#rrggbb\n",
	    arg);
	return -1;
}

static int set_option(const command *cmd, options *o, int c, const char *arg)
{
	const optdesc *d = find_opt(c);
	if (!(d->groups & cmd->groups)) {
		say("cnnf: %s: option --%s does not apply; see 'cnnf %s --help'\n", cmd->name,
		    d->name, cmd->name);
		return -1;
	}
	long long ll;
	switch (c) {
	case O_KERNEL:
		o->kernel = arg;
		return 0;
	case O_KSTRING:
		o->kernel_string = arg;
		return 0;
	case O_NORMALIZE:
		o->normalize = 1;
		return 0;
	case O_FLIP:
		o->flip = 1;
		return 0;
	case O_ABS:
		o->f.abs = 1;
		return 0;
	case O_SIZE:
		o->size_set = 1;
		if (cmd->run == run_info)
			return parse_hw(arg, &o->in_h, &o->in_w);
		return parse_int(d->name, arg, 1, SIZE_MAX_K, &o->size);
	case O_MEAN:
		return parse_list(d->name, arg, 0, o->inf.mean, &o->inf.nmean);
	case O_STD:
		return parse_list(d->name, arg, 1, o->inf.std, &o->inf.nstd);
	case O_AMOUNT:
		o->amount_set = 1;
		return parse_range(d->name, arg, -LEVEL_MAX, 0, LEVEL_MAX, 0, LEVEL_RANGE,
		                   &o->amount);
	case O_DX:
		return parse_int(d->name, arg, -SIZE_MAX_K / 2, SIZE_MAX_K / 2, &o->dx);
	case O_DY:
		return parse_int(d->name, arg, -SIZE_MAX_K / 2, SIZE_MAX_K / 2, &o->dy);
	case O_FACTOR:
		o->factor_set = 1;
		return parse_range(d->name, arg, -LEVEL_MAX, 0, LEVEL_MAX, 0, LEVEL_RANGE,
		                   &o->factor);
	case O_SIGMA:
		o->sigma_set = 1;
		return parse_range(d->name, arg, 0, 1, CNNF_KERNEL_MAX_SIGMA, 0,
		                   "a number above 0 and up to 500", &o->sigma);
	case O_FLATTEN:
		o->w.flatten = 1;
		return parse_colour(arg, o->w.background);
	case O_GAMMA:
		o->gamma_set = 1;
		o->step_only = "--gamma";
		if (parse_range(d->name, arg, 0, 1, HUGE_VAL, 0, "a positive number", &o->gamma) < 0)
			return -1;
		o->train.optim.gamma = o->gamma;
		return 0;
	case O_OFFSET:
		return parse_range(d->name, arg, -LEVEL_MAX, 0, LEVEL_MAX, 0, LEVEL_RANGE,
		                   &o->f.offset);
	case O_PAD:
		if (strcmp(arg, "same") == 0) {
			o->f.pad_mode = CNNF_PAD_SAME;
			return 0;
		}
		if (strcmp(arg, "valid") == 0) {
			o->f.pad_mode = CNNF_PAD_VALID;
			return 0;
		}
		o->f.pad_mode = CNNF_PAD_EXPLICIT;
		{
			char *end;
			errno = 0;
			ll = strtoll(arg, &end, 10);
			if (blank_ends(arg) || errno || end == arg || *end || ll < 0 ||
			    ll > GEOM_MAX) {
				value_error("--pad: '%s' is not same, valid or a number of samples "
				    "from 0 to %d",
				    arg, GEOM_MAX);
				return -1;
			}
		}
		o->f.pad = (int)ll;
		return 0;
	case O_BORDER:
		if (cnnf_conv_border_parse(arg, &o->f.border) < 0 ||
		    cnnf_conv_border_parse(arg, &o->seg.border) < 0 ||
		    cnnf_conv_border_parse(arg, &o->inf.border) < 0 ||
		    cnnf_conv_border_parse(arg, &o->train.border) < 0) {
			value_error("--border: '%s' is not zero, replicate, reflect, symmetric or "
			    "wrap",
			    arg);
			return -1;
		}
		return 0;
	case O_STRIDE:
		if (parse_int(d->name, arg, 1, GEOM_MAX, &o->f.stride) < 0)
			return -1;
		o->pool_stride = o->f.stride;
		return 0;
	case O_DILATION:
		return parse_int(d->name, arg, 1, GEOM_MAX, &o->f.dilation);
	case O_THREADS:
		if (parse_int(d->name, arg, 0, 256, &o->f.threads) < 0)
			return -1;
		o->seg.threads = o->f.threads;
		o->inf.threads = o->f.threads;
		o->train.threads = o->f.threads;
		return 0;
	case O_FORMAT:
		if (cnnf_io_format_parse(arg, &o->w.format) < 0) {
			value_error("--format: '%s' is not one of %s", arg, cnnf_io_format_names());
			return -1;
		}
		return 0;
	case O_PAGE:
		return parse_int(d->name, arg, 0, INT_MAX, &o->page);
	case O_QUALITY:
		return parse_int(d->name, arg, 1, 100, &o->w.quality);
	case O_SUBSAMPLING:
		if (strcmp(arg, "444") && strcmp(arg, "422") && strcmp(arg, "420")) {
			value_error("--subsampling: '%s' is not 444, 422 or 420", arg);
			return -1;
		}
		o->w.subsampling = atoi(arg);
		return 0;
	case O_DEPTH:
		if (strcmp(arg, "8") && strcmp(arg, "16")) {
			value_error("--depth: '%s' is not 8 or 16", arg);
			return -1;
		}
		o->w.depth = atoi(arg);
		return 0;
	case O_MODEL:
		o->model = arg;
		return 0;
	case O_MODE:
		if (strcmp(arg, "patch") == 0)
			o->seg.mode = CNNF_SEGMENT_PATCH;
		else if (strcmp(arg, "dense") == 0)
			o->seg.mode = CNNF_SEGMENT_DENSE;
		else {
			value_error("--mode: '%s' is not patch or dense", arg);
			return -1;
		}
		o->inf.dense = o->seg.mode == CNNF_SEGMENT_DENSE;
		return 0;
	case O_PROBS:
		o->probs = arg;
		return 0;
	case O_OVERLAY:
		o->overlay = arg;
		return 0;
	case O_OUTDIR:
		if (!*arg) {
			value_error("--outdir: an empty name (use . for this folder)");
			return -1;
		}
		o->outdir = arg;
		return 0;
	case O_SUFFIX:
		if (strchr(arg, '/')) {
			value_error("--suffix '%s': a file name in the output folder has no '/'", arg);
			return -1;
		}
		o->suffix = arg;
		return 0;
	case O_NAME:
		o->name = arg;
		return 0;
	case O_SKIP:
		o->skip_existing = 1;
		return 0;
	case O_FILES_FROM:
		if (o->files_from) {
			value_error("--files-from: one list a run (given '%s' and '%s')", o->files_from,
				    arg);
			return -1;
		}
		o->files_from = arg;
		return 0;
	case O_QUIET:
		o->quiet = 1;
		return 0;
	case O_OUTPUT:
		o->output = arg;
		return 0;
	case O_EPOCHS:
		return parse_int(d->name, arg, 1, 1000000, &o->train.epochs);
	case O_BATCH:
		return parse_int(d->name, arg, 1, 65536, &o->train.batch);
	case O_LR:
		return parse_range(d->name, arg, 0, 1, HUGE_VAL, 0, "a positive number",
				   &o->train.optim.lr);
	case O_MOMENTUM:
		o->sgd_only = "--momentum";
		return parse_range(d->name, arg, 0, 0, 1, 1, "in 0 <= M < 1",
				   &o->train.optim.momentum);
	case O_DECAY:
		return parse_range(d->name, arg, 0, 0, HUGE_VAL, 0, "0 or more",
				   &o->train.optim.weight_decay);
	case O_OPTIMIZER:
		if (cnnf_optim_parse(arg, &o->train.optim.kind) < 0) {
			value_error("%s", cnnf_error_get());
			return -1;
		}
		return 0;
	case O_BETA1:
		o->adam_only = "--beta1";
		return parse_range(d->name, arg, 0, 0, 1, 1, "in 0 <= B < 1", &o->train.optim.beta1);
	case O_BETA2:
		o->adam_only = "--beta2";
		return parse_range(d->name, arg, 0, 0, 1, 1, "in 0 <= B < 1", &o->train.optim.beta2);
	case O_EPS:
		o->adam_only = "--eps";
		return parse_range(d->name, arg, 0, 1, 1, 0, "in 0 < E <= 1", &o->train.optim.eps);
	case O_SCHEDULE:
		if (cnnf_sched_parse(arg, &o->train.optim.schedule) < 0) {
			value_error("%s", cnnf_error_get());
			return -1;
		}
		return 0;
	case O_WARMUP:
		return parse_int(d->name, arg, 0, 1000000, &o->train.optim.warmup);
	case O_STEPSIZE:
		o->step_only = "--step-size";
		return parse_int(d->name, arg, 1, 1000000, &o->train.optim.step_size);
	case O_VALSPLIT:
		return parse_range(d->name, arg, 0, 0, 1, 1, "in 0 <= F < 1", &o->train.val_split);
	case O_SEED:
		if (parse_long(d->name, arg, 0, LLONG_MAX, &ll) < 0)
			return -1;
		o->train.seed = (uint64_t)ll;
		return 0;
	case O_BALANCE:
		o->train.balance = 1;
		return 0;
	case O_IGNORE:
		return parse_int(d->name, arg, 0, 65535, &o->train.ignore);
	case O_CHECKPOINT:
		o->train.checkpoint = arg;
		return 0;
	case O_AUGMENT:
		if (cnnf_augment_parse(arg, &o->train.augment) < 0) {
			value_error("%s", cnnf_error_get());
			return -1;
		}
		return 0;
	case O_CLASSW:
		return parse_class_weights(arg, o);
	case O_PATIENCE:
		return parse_int(d->name, arg, 1, 1000000, &o->train.patience);
	case O_ARCH:
		o->arch = arg;
		return 0;
	case O_CHANNELS:
		if (strcmp(arg, "gray") == 0)
			o->channels = 1;
		else if (strcmp(arg, "rgb") == 0)
			o->channels = 3;
		else {
			value_error("--channels: '%s' is not gray or rgb", arg);
			return -1;
		}
		return 0;
	case O_SCALE:
		if (parse_long(d->name, arg, 1, 1LL << 31, &ll) < 0)
			return -1;
		o->scale = (unsigned)ll;
		o->train.float_scale = o->scale;
		return 0;
	case O_HOLDOUT:
		if (strcmp(arg, "blocks") == 0)
			o->train.holdout = CNNF_HOLDOUT_BLOCKS;
		else if (strcmp(arg, "columns") == 0)
			o->train.holdout = CNNF_HOLDOUT_COLUMNS;
		else {
			value_error("--holdout: '%s' is not blocks or columns", arg);
			return -1;
		}
		return 0;
	case O_NORM_AUTO:
		if (strcmp(arg, "auto") != 0) {
			value_error("--normalize: '%s' is not auto (without the option the model file's "
			    "mean and std are used)", arg);
			return -1;
		}
		o->train.normalize_auto = 1;
		return 0;
	case O_MAXWORK:
		if (parse_range(d->name, arg, 0, 0, 1e30, 0, "0 or more", &o->max_work) < 0)
			return -1;
		o->train.max_work = o->max_work;
		o->inf.max_work = o->max_work;
		return 0;
	case O_MAXACT:
		if (parse_long(d->name, arg, 1, LLONG_MAX, &ll) < 0)
			return -1;
		o->limits.max_activations = (size_t)ll;
		return 0;
	case O_NOAUTOROT:
		o->no_autorotate = 1;
		return 0;
	case O_STRIP:
		o->strip = 1;
		return 0;
	case O_MAXPIX:
		if (parse_long(d->name, arg, 0, LLONG_MAX, &ll) < 0)
			return -1;
		o->max_pixels = (unsigned long long)ll;
		o->train.max_pixels = o->max_pixels;
		return 0;
	}
	return -1;
}

/*
 * The message for getopt_long's '?' (opterr is 0): an unknown or ambiguous
 * option, an option without its value, or a value given to an option that
 * takes none (--quiet=1). `before` is optind before the call that failed.
 * The argument at fault is argv[optind - 1] when getopt was done with it, and
 * argv[optind] when it stopped inside a cluster of short options (in
 * "-x.png", 'x' is unknown and ".png" is left): the first is an option only
 * in the first case, as the arguments getopt skips to reach an option are
 * not, and it moves (permutes) only the arguments before `before`.
 */
static int option_error(const command *cmd, int argc, char **argv, int before)
{
	int i = optind;
	if (optind > before && argv[optind - 1][0] == '-' && argv[optind - 1][1])
		i = optind - 1;
	const char *arg = argv[i < argc ? i : argc - 1];
	const optdesc *d = optopt ? find_opt(optopt) : NULL;
	int is_long = strncmp(arg, "--", 2) == 0;
	if (d && is_long && !d->has_arg)
		return cmd_usage(cmd, "option '--%s' takes no value", d->name);
	if (d && is_long)
		return cmd_usage(cmd, "option '--%s' needs a value", d->name);
	if (d)
		return cmd_usage(cmd, "option '-%c' needs a value", optopt);
	if (is_long) {
		/* glibc takes a unique prefix of a name; more than one match is ambiguous. */
		size_t len = strcspn(arg + 2, "="), matches = 0;
		for (size_t k = 0; k < NOPTS; k++)
			matches += strncmp(optdescs[k].name, arg + 2, len) == 0;
		return cmd_usage(cmd, "%s option '%.*s'", matches > 1 ? "ambiguous" : "unknown",
		                 (int)len + 2, arg);
	}
	if (strlen(arg) == 2)
		return cmd_usage(cmd, "unknown option '%s'", arg);
	return cmd_usage(cmd, "unknown option '-%c' in '%s'", optopt, arg);
}

/* Image data is not written to a terminal, as compressors refuse to. Prints the refusal. */
static int check_not_terminal(const char *path)
{
	if (strcmp(path, "-") != 0 || !isatty(STDOUT_FILENO))
		return 0;
	say("cnnf: stdout is a terminal: image data is not written to it; redirect it or name "
	    "a file\n");
	return -1;
}

/*
 * The output format, checked before any work is done. An output with no
 * name to take it from ("-", a pipe or device) and no --format gets the
 * input's: *fmt is NONE until take_input_format() sets it.
 */
static int output_format(options *o, const char *path, cnnf_format *fmt)
{
	if (check_not_terminal(path) < 0)
		return -1;
	*fmt = o->w.format;
	if (*fmt == CNNF_FORMAT_NONE && (*fmt = cnnf_io_format_from_name(path)) == CNNF_FORMAT_NONE &&
	    !cnnf_output_in_place(path)) {
		say("cnnf: %s: unknown output format; name it .png, .jpg, .tif, .pnm or .npy (or "
		    "%s), or use --format\n",
		    path, cnnf_io_format_names());
		return -1;
	}
	o->w.format = *fmt;
	return 0;
}

/* The input's format for an output that waited for it (output_format()). */
static void take_input_format(options *o, const cnnf_input *in, cnnf_format *fmt)
{
	if (*fmt == CNNF_FORMAT_NONE)
		*fmt = o->w.format = cnnf_input_format(in);
}

/* The input at path opened; NULL when it cannot be (printed). */
static cnnf_input *open_input(const char *path, const options *o)
{
	cnnf_input *in = cnnf_io_open(path, o->max_pixels);
	if (!in)
		print_error();
	else
		cnnf_input_set_autorotate(in, !o->no_autorotate);
	return in;
}

/*
 * Close in, printing what libtiff warned of, once for the file, when it was
 * read (ok): a failure is one line, its error.
 */
static void close_input(cnnf_input *in, int ok)
{
	const char *w = in && ok ? cnnf_input_warning(in) : NULL;
	if (w)
		say("cnnf: %s\n", w);
	cnnf_input_close(in);
}

/*
 * The page --page picks, or the first; a multi-page input read for one
 * image says that the others were left. Prints failures.
 */
static cnnf_image *read_page(cnnf_input *in, const options *o)
{
	cnnf_image *img = cnnf_input_read(in, o->page < 0 ? 0 : o->page);
	int pages = cnnf_input_pages(in);
	if (!img)
		print_error();
	else if (o->page < 0 && pages > 1)
		say("cnnf: %s: warning: %d pages, only page 0 is read (--page N picks one; a filter "
		    "command writes them all to a .tif)\n",
		    cnnf_input_name(in), pages);
	return img;
}

/* One image from path: open_input(), take_input_format() (fmt may be NULL), read_page(). */
static cnnf_image *read_image(const char *path, options *o, cnnf_format *fmt)
{
	cnnf_input *in = open_input(path, o);
	if (!in)
		return NULL;
	if (fmt)
		take_input_format(o, in, fmt);
	cnnf_image *img = read_page(in, o);
	const char *w = img ? cnnf_input_warning(in) : NULL;
	if (w)
		snprintf(o->warning, sizeof o->warning, "%s", w);
	cnnf_meta_clear(&o->meta);
	if (img && !o->strip && cnnf_meta_copy(&o->meta, cnnf_input_meta(in)) < 0) {
		say("cnnf: %s: out of memory for its metadata\n", cnnf_input_name(in));
		cnnf_image_free(img);
		img = NULL;
	}
	cnnf_input_close(in);
	return img;
}

/* The metadata to write with a result made from an image with meta: none under --strip. */
static const cnnf_meta *output_meta(const options *o, const cnnf_meta *meta)
{
	return o->strip ? NULL : meta;
}

/*
 * o->meta the metadata of a result made from an image with meta (none under
 * --strip), its resolution scaled by the result's step against the input's:
 * a stride-2 result has half the pixels per inch. 0, or -1 printed.
 */
static int result_meta(options *o, const cnnf_meta *meta, double fx, double fy)
{
	if (meta != &o->meta) {
		cnnf_meta_clear(&o->meta);
		if (!o->strip && cnnf_meta_copy(&o->meta, meta) < 0) {
			say("cnnf: out of memory for the image's metadata\n");
			return -1;
		}
	}
	cnnf_meta_scale_resolution(&o->meta, fx, fy);
	return 0;
}

/* What the writer of out left out (o->wwarn), said once the output is written. */
static void say_write_warning(options *o, const char *out)
{
	if (o->wwarn.count > 1)
		say("cnnf: %s: warning: %s (and %d more)\n", out, o->wwarn.first, o->wwarn.count - 1);
	else if (o->wwarn.count)
		say("cnnf: %s: warning: %s\n", out, o->wwarn.first);
	o->wwarn.count = 0;
}

/* The input's warning, if any, now that the command has worked. */
static void say_warning(options *o)
{
	if (o->warning[0])
		say("cnnf: %s\n", o->warning);
	o->warning[0] = 0;
}

static cnnf_kernel *build_kernel(const command *cmd, options *o, const char **kname,
				 int *usage)
{
	cnnf_kernel *k = NULL;
	*usage = 0;
	*kname = cmd->name;
	if (strcmp(cmd->name, "identity") == 0) {
		k = cnnf_kernel_identity();
	} else if (strcmp(cmd->name, "box") == 0 || strcmp(cmd->name, "blur") == 0) {
		k = cnnf_kernel_box(o->size_set ? o->size : 3);
	} else if (strcmp(cmd->name, "sharpen") == 0) {
		int size = o->size_set ? o->size : 3;
		if (size % 2 == 0) {
			say("cnnf: sharpen: --size must be odd, not %d\n", size);
			*usage = 1;
			return NULL;
		}
		k = cnnf_kernel_sharpen(size, o->amount_set ? o->amount : 1.0);
	} else if (strcmp(cmd->name, "shift") == 0) {
		k = cnnf_kernel_shift(o->dx, o->dy);
	} else if (strcmp(cmd->name, "gaussian") == 0) {
		if (!o->sigma_set) {
			say("cnnf: gaussian: --sigma S is required\n");
			*usage = 1;
			return NULL;
		}
		k = cnnf_kernel_gaussian(o->sigma);
	} else if (strcmp(cmd->name, "unsharp") == 0) {
		k = cnnf_kernel_unsharp(o->sigma_set ? o->sigma : 1.0,
		                        o->amount_set ? o->amount : 1.0);
	} else if (o->kernel && o->kernel_string) {
		say("cnnf: conv: give --kernel or --kernel-string, not both\n");
		*usage = 1;
		return NULL;
	} else if (o->kernel) {
		*kname = o->kernel;
		k = cnnf_kernel_load(o->kernel);
	} else if (o->kernel_string) {
		*kname = "--kernel-string";
		k = cnnf_kernel_parse(o->kernel_string, "--kernel-string");
		*usage = !k;
	} else {
		say("cnnf: %s: a kernel is needed: --kernel FILE or --kernel-string TEXT\n",
			cmd->name);
		*usage = 1;
		return NULL;
	}
	if (!k)
		return NULL;
	if (o->normalize && cnnf_kernel_normalize(k, *kname) < 0) {
		cnnf_kernel_free(k);
		return NULL;
	}
	if (o->flip)
		cnnf_kernel_flip(k);
	return k;
}

/*
 * The cost limit, checked before the work: `what` on `name` would take
 * `work` multiply-adds. Prints the refusal.
 */
static int check_work(const options *o, const char *name, const char *what, double work)
{
	if (o->max_work <= 0 || work <= o->max_work)
		return 0;
	say(
		"cnnf: %s: %s would take about %.3g multiply-adds, more than --max-work %.6g "
		"allows (0: no limit)\n",
		name, what, work, o->max_work);
	return -1;
}

/*
 * An output that is the input under another name (./a.png, a link, a hard
 * link) would destroy it; only the in-place form, the same name twice
 * (cnnf box a.png a.png), may replace it. 0, or -1 after saying so.
 */
static int input_guard(const char *input, const char *path, const cnnf_output *out,
		       int in_place_ok)
{
	if (!input || !strcmp(input, "-") || (in_place_ok && !strcmp(input, path)) ||
	    !cnnf_output_is_file(out, input))
		return 0;
	say("cnnf: %s: is the input %s under another name; it would be lost (to replace an "
	    "image in place, give the same name twice)\n", path, input);
	return -1;
}

/*
 * The files a run reads besides its images (the model, the kernel file, the
 * --files-from list) are never replaced by an output either: an output of
 * that name, a link to it or a hard link is refused. 0, or -1 printed.
 */
static int side_input_check(const options *o, const char *path,
                            int (*is)(const void *out, const char *file), const void *out)
{
	const struct {
		const char *what, *file;
	} side[] = {{"model", o->model}, {"kernel file", o->kernel}, {"list", o->files_from}};
	for (size_t i = 0; i < sizeof side / sizeof side[0]; i++) {
		const char *f = side[i].file;
		if (f && strcmp(f, "-") != 0 && is(out, f)) {
			say("cnnf: %s: is the %s %s; it would be lost\n", path, side[i].what, f);
			return -1;
		}
	}
	return 0;
}

/* side_input_check()'s test for an output already open, and for a batch's name not yet made. */
static int output_is(const void *out, const char *file)
{
	return cnnf_output_is_file(out, file);
}

static int name_is(const void *name, const char *file)
{
	return cnnf_batch_same_file(name, file);
}

static int side_input_guard(const options *o, const char *path, const cnnf_output *out)
{
	return side_input_check(o, path, output_is, out);
}

/*
 * The output of a one-output command, opened before the input is read so
 * that an output that cannot be written is refused before any work.
 */
static cnnf_output *open_output(const options *o, const char *path, const char *input)
{
	cnnf_output *out;
	if (cnnf_output_open(path, &out) < 0) {
		print_error();
		return NULL;
	}
	if (input_guard(input, path, out, 1) < 0 || side_input_guard(o, path, out) < 0) {
		cnnf_output_discard(out);
		return NULL;
	}
	return out;
}

/* Write rows to out and publish it; out is gone after. */
static int finish_output(cnnf_output *out, const cnnf_rows *rows, cnnf_format fmt, options *o)
{
	char name[4200];
	snprintf(name, sizeof name, "%s", cnnf_output_name(out));
	o->wwarn.count = 0;
	o->w.warn = &o->wwarn;
	if (cnnf_io_write_to(out, rows, fmt, &o->w) < 0) {
		print_error();
		cnnf_output_discard(out);
		return EXIT_FAIL;
	}
	if (cnnf_output_publish(&out, 1) < 0) {
		print_error();
		return EXIT_FAIL;
	}
	say_write_warning(o, name);
	return EXIT_OK;
}

/* finish_output() for a whole image, which it frees, with read_image()'s metadata. */
static int write_result(cnnf_output *out, cnnf_image *res, cnnf_format fmt, options *o)
{
	cnnf_rows rows;
	cnnf_image_to_rows(res, &rows);
	/* Every whole-image result is made from the image read_image() read. */
	o->w.meta = output_meta(o, &o->meta);
	int status = finish_output(out, &rows, fmt, o);
	cnnf_image_free(res);
	return status;
}

/*
 * Outputs with a channel count that only .npy can hold are refused before the
 * work. 2 and 4 channels are gray or colour with alpha only when they came
 * from such an image (alpha set), not from a bank of filters.
 */
static int check_channels(int channels, int alpha, cnnf_format fmt, const char *path,
                          const cnnf_write_opts *w)
{
	int with_alpha = alpha && (channels == 2 || channels == 4);
	if (with_alpha && w->flatten)
		channels--, with_alpha = 0;
	if (cnnf_io_format_holds(fmt, channels, with_alpha))
		return 0;
	const char *name = cnnf_io_format_label(fmt);
	if (with_alpha)
		say("cnnf: %s: %s has no alpha channel; composite the image over a background with "
		    "--flatten[=COLOUR] (white by default), or write .png\n",
		    path, name);
	else
		say("cnnf: %s: %d output channels cannot be written as %s; write .npy, .tif or .pam "
		    "instead\n",
		    path, channels, name);
	return -1;
}

/* cnnf_filter_opts.wait for an input being decoded (cnnf_input_read_async()). */
static int input_wait(void *ctx, int rows)
{
	return cnnf_input_wait(ctx, rows);
}

static int run_filter(const command *cmd, options *o, char **ops)
{
	cnnf_format fmt;
	const char *kname;
	int usage;
	if (output_format(o, ops[1], &fmt) < 0)
		return EXIT_USAGE;
	cnnf_kernel *k = build_kernel(cmd, o, &kname, &usage);
	if (!k) {
		if (*cnnf_error_get())
			print_error();
		return usage ? EXIT_USAGE : EXIT_FAIL;
	}
	int status = EXIT_FAIL;
	cnnf_image *img = NULL;
	cnnf_input *in = NULL;
	cnnf_io_pages *pages = NULL;
	cnnf_output *dst = open_output(o, ops[1], ops[0]);
	if (!dst || !(in = open_input(ops[0], o)))
		goto out;
	take_input_format(o, in, &fmt);
	/* Every page of a multi-page input goes to a multi-page output, one after the other. */
	int count = o->page < 0 && fmt == CNNF_FORMAT_TIFF ? cnnf_input_pages(in) : 1;
	if (count > 1 && cnnf_io_pages_open(dst, fmt, &o->w, &pages) < 0) {
		print_error();
		goto out;
	}
	/* One page of a PNG or JPEG is decoded on a thread of its own while it is filtered. */
	/* (Not with --threads 1: one thread means one core, as many jobs side by side want.) */
	int async = count == 1 && o->page <= 0 && cnnf_input_pages(in) == 1 && o->f.threads != 1;
	for (int page = 0; page < count; page++) {
		if (async && !(img = cnnf_input_read_async(in))) {
			print_error();
			goto out;
		}
		if (!img && !(img = count > 1 ? cnnf_input_read(in, page) : read_page(in, o))) {
			if (count > 1)
				print_error();
			goto out;
		}
		o->f.wait = async ? input_wait : NULL;
		o->f.wait_ctx = in;
		int depthwise = k->depth != img->channels && k->count == 1 && k->depth == 1;
		if (!depthwise && k->depth != img->channels) {
			say("cnnf: %s: a kernel of depth %d needs an image of %d channels; %s has %d\n",
			    kname, k->depth, k->depth, ops[0], img->channels);
			goto out;
		}
		if (check_channels(depthwise ? img->channels : k->count, depthwise && img->alpha, fmt,
		                   ops[1], &o->w) < 0)
			goto out;
		o->f.float_out = fmt == CNNF_FORMAT_NPY;
		/* The result is made a strip at a time while it is written. */
		cnnf_filter_stream *fs;
		if (cnnf_filter_open(img, k, &o->f, kname, 0, &fs) < 0) {
			print_error();
			goto out;
		}
		/*
		 * Padding can make the output far larger than the input, and only a
		 * strip of it is ever in memory: the pixel limit keeps a typo in --pad
		 * from filling the disk.
		 */
		const cnnf_rows *rows = cnnf_filter_get_rows(fs);
		int added = 0;
		if (cnnf_image_check(ops[1], rows->info.width, rows->info.height,
		                     rows->info.channels, rows->info.type, o->max_pixels) < 0) {
			print_error();
		} else if (check_work(o, ops[0], cmd->name, (double)cnnf_filter_work(fs)) < 0) {
			/* refused: printed */
		} else if (result_meta(o, cnnf_input_meta(in), 1.0 / o->f.stride,
		                       1.0 / o->f.stride) < 0) {
			/* printed */
		} else if (count == 1) {
			o->w.meta = output_meta(o, &o->meta);
			status = finish_output(dst, rows, fmt, o);
			dst = NULL;
		} else if (cnnf_io_pages_add(pages, rows, output_meta(o, &o->meta)) < 0) {
			print_error();
		} else {
			added = 1;
		}
		cnnf_filter_close(fs);
		/* The decoder writes into img until it ends. */
		(void)cnnf_input_finish(in);
		cnnf_image_free(img);
		img = NULL;
		if (count > 1 && !added)
			goto out;
	}
	if (count > 1) {
		int r = cnnf_io_pages_close(pages);
		pages = NULL;
		if (r < 0 || cnnf_output_publish(&dst, 1) < 0) {
			print_error();
			goto out;
		}
		status = EXIT_OK;
	}
out:
	cnnf_io_pages_discard(pages);
	cnnf_output_discard(dst);
	close_input(in, status == EXIT_OK);
	cnnf_image_free(img);
	cnnf_kernel_free(k);
	return status;
}

static int run_point(const command *cmd, options *o, char **ops)
{
	static const struct {
		const char *name;
		cnnf_point_op op;
	} ops_table[] = {{"invert", CNNF_POINT_INVERT},     {"darken", CNNF_POINT_DARKEN},
			 {"lighten", CNNF_POINT_LIGHTEN},   {"contrast", CNNF_POINT_CONTRAST},
			 {"gamma", CNNF_POINT_GAMMA},       {"relu", CNNF_POINT_RELU}};
	cnnf_point_op op = CNNF_POINT_INVERT;
	for (size_t i = 0; i < sizeof ops_table / sizeof *ops_table; i++)
		if (strcmp(cmd->name, ops_table[i].name) == 0)
			op = ops_table[i].op;
	double param = 0;
	if (op == CNNF_POINT_DARKEN || op == CNNF_POINT_LIGHTEN)
		param = o->amount_set ? o->amount : 128;
	if (op == CNNF_POINT_CONTRAST) {
		if (!o->factor_set)
			return cmd_usage(cmd, "--factor F is required");
		param = o->factor;
	}
	if (op == CNNF_POINT_GAMMA) {
		if (!o->gamma_set)
			return cmd_usage(cmd, "--gamma G is required");
		param = o->gamma;
	}
	cnnf_format fmt;
	if (output_format(o, ops[1], &fmt) < 0)
		return EXIT_USAGE;
	cnnf_output *dst = open_output(o, ops[1], ops[0]);
	if (!dst)
		return EXIT_FAIL;
	cnnf_image *img = read_image(ops[0], o, &fmt), *res = NULL;
	int status = EXIT_FAIL;
	if (!img)
		goto out;
	/* gray changes the channels: its result is checked. */
	int gray = strcmp(cmd->name, "gray") == 0;
	if (!gray && check_channels(img->channels, img->alpha, fmt, ops[1], &o->w) < 0)
		goto out;
	const char *in = strcmp(ops[0], "-") ? ops[0] : "stdin";
	if (gray ? cnnf_point_gray(img, fmt == CNNF_FORMAT_NPY, in, &res)
	         : cnnf_point_apply(img, op, param, fmt == CNNF_FORMAT_NPY, &res)) {
		print_error();
		goto out;
	}
	if (gray && check_channels(res->channels, res->alpha, fmt, ops[1], &o->w) < 0)
		goto out;
	status = write_result(dst, res, fmt, o);
	dst = NULL;
out:
	cnnf_output_discard(dst);
	cnnf_image_free(img);
	return status;
}

static int run_pool(const command *cmd, options *o, char **ops)
{
	int size = o->size_set ? o->size : 2;
	int stride = o->pool_stride ? o->pool_stride : size;
	cnnf_format fmt;
	if (output_format(o, ops[1], &fmt) < 0)
		return EXIT_USAGE;
	cnnf_output *dst = open_output(o, ops[1], ops[0]);
	if (!dst)
		return EXIT_FAIL;
	cnnf_image *img = read_image(ops[0], o, &fmt), *res = NULL;
	int status = EXIT_FAIL;
	cnnf_tensor *in = NULL, *out = NULL;
	if (!img)
		goto out;
	if (check_channels(img->channels, img->alpha, fmt, ops[1], &o->w) < 0)
		goto out;
	char name[4200];
	snprintf(name, sizeof name, "%s", strcmp(ops[0], "-") ? ops[0] : "stdin");
	if (img->height >= size && img->width >= size &&
	    check_work(o, name, cmd->name,
		       ((double)((img->height - size) / stride) + 1) *
			       ((double)((img->width - size) / stride) + 1) * img->channels *
			       (double)size * size) < 0)
		goto out;
	if (!(in = cnnf_tensor_from_image(img)) ||
	    cnnf_pool_apply(in, strcmp(cmd->name, "maxpool") == 0 ? CNNF_POOL_MAX : CNNF_POOL_AVG,
			    size, size, stride, stride, name, &out) < 0) {
		print_error();
		goto out;
	}
	int integer = img->type != CNNF_F32 && fmt != CNNF_FORMAT_NPY;
	res = cnnf_tensor_to_image(out, integer ? img->type : CNNF_F32, img->maxval, img->alpha);
	if (!res) {
		print_error();
		goto out;
	}
	result_meta(o, &o->meta, 1.0 / stride, 1.0 / stride);
	status = write_result(dst, res, fmt, o);
	dst = NULL;
out:
	cnnf_output_discard(dst);
	cnnf_tensor_free(in);
	cnnf_tensor_free(out);
	cnnf_image_free(img);
	return status;
}

/* The ONNX model at path under the limits of the options (--max-activations: elements of any
 * one value, and floats alive at once). */
static cnnf_graph *load_graph(const options *o, const char *path)
{
	cnnf_graph_limits l;
	cnnf_graph_limits_init(&l);
	uint64_t act = o->limits.max_activations;
	l.max_elements = act;
	l.max_activation = act > UINT64_MAX / 4 ? UINT64_MAX : 4 * act;
	l.max_params = o->limits.max_params;
	cnnf_graph *g = NULL;
	if (cnnf_onnx_load(path, &l, &g) < 0) {
		print_error();
		return NULL;
	}
	return g;
}

/* A graph to run (segment, apply): loaded, its Relus fused into the convs before them. */
static cnnf_graph *load_run_graph(const options *o, const char *path)
{
	cnnf_graph *g = load_graph(o, path);
	if (g && cnnf_pass_fuse(g) < 0) {
		print_error();
		cnnf_graph_free(g);
		return NULL;
	}
	return g;
}

static int run_info(const command *cmd, options *o, char **ops)
{
	(void)cmd;
	int status = -1;
	if (cnnf_describe_is_onnx(ops[0])) {
		cnnf_graph *g = load_graph(o, ops[0]);
		if (!g)
			return EXIT_FAIL;
		status = cnnf_describe_graph(stdout, ops[0], g, o->in_h, o->in_w);
		cnnf_graph_free(g);
	} else if (o->in_h) {
		return usage_error("info: --size HxW is for ONNX models; %s is not one%s", ops[0], "");
	} else if (cnnf_describe_is_image(ops[0])) {
		cnnf_input *in = open_input(ops[0], o);
		cnnf_image *img = in ? cnnf_input_read(in, 0) : NULL;
		if (img)
			status = cnnf_describe_image(stdout, ops[0], in, img);
		else if (in)
			print_error();
		cnnf_image_free(img);
		cnnf_input_close(in);
		if (!img)
			return EXIT_FAIL;
	} else if (cnnf_describe_is_model(ops[0])) {
		cnnf_model *m = cnnf_model_load(ops[0], &o->limits);
		if (m)
			status = cnnf_describe_model(stdout, ops[0], m);
		cnnf_model_free(m);
	} else {
		cnnf_kernel *k = cnnf_kernel_load(ops[0]);
		if (k)
			status = cnnf_describe_kernel(stdout, ops[0], k);
		cnnf_kernel_free(k);
	}
	if (status < 0) {
		print_error();
		return EXIT_FAIL;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		say("cnnf: stdout: write error: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* A note from a run that still goes on (an image in tiles): "cnnf: IMAGE: ...". */
static void show_notice(void *ctx, const char *msg)
{
	say("cnnf: %s: %s\n", (const char *)ctx, msg);
}

/* Progress on a terminal: one line, rewritten in place. */
typedef struct progress {
	const char *name;
	int last; /* percent shown last, -1 at first */
} progress;

static void show_progress(void *ctx, size_t done, size_t total)
{
	progress *p = ctx;
	int pct = (int)(100.0 * done / total);
	if (pct == p->last)
		return;
	p->last = pct;
	say("\rcnnf: %s: %3d%%", p->name, pct);
	/* Cleared when done: the terminal is left as it was, the next line in its place. */
	if (done == total)
		fputs("\r\033[K", stderr);
}

/*
 * An output whose name says no format (an input without a known extension,
 * and no --format): that input fails, the others go on. 0 when it has one.
 */
static int batch_format_known(const options *o, const char *in, const char *out)
{
	if (o->w.format != CNNF_FORMAT_NONE || cnnf_io_format_from_name(out) != CNNF_FORMAT_NONE)
		return 0;
	say("cnnf: %s: no output format for %s (its name has no known extension); use --format "
	    "or --name\n", out, in);
	return -1;
}

/*
 * Batches (--outdir DIR): each input's outputs are named first, and the
 * names that would collide or replace an input are refused before anything
 * is written; then each input runs on its own copy of the options, a failing
 * one said and counted, the rest going on.
 */
typedef struct batch_out {
	const char *pattern; /* --name, or --probs / --overlay: one %s; NULL: NAME SUFFIX EXT */
	const char *ext;     /* with no pattern: ".png"; NULL: --format's, else the input's own */
	const char *what;    /* the option that gave the pattern, for messages */
	int use;             /* 0: this output is not written */
} batch_out;

/* Run one input into its outputs outs[0..k-1] (NULL: not written); an exit status. */
typedef int (*batch_fn)(void *ctx, options *o, const char *in, char **outs);

static int batch_run(options *o, const batch_out *bo, int k, batch_fn fn, void *ctx)
{
	int n = o->ninputs;
	for (int j = 0; j < k; j++)
		if (bo[j].use && bo[j].pattern && cnnf_batch_check_pattern(bo[j].pattern, bo[j].what) < 0) {
			print_error();
			return EXIT_USAGE;
		}
	/* --format names the extension too: --format png of x.jpg is DIR/x.png. */
	char fmt_ext[16] = "";
	const char *fext = cnnf_io_format_ext(o->w.format);
	if (fext)
		snprintf(fmt_ext, sizeof fmt_ext, ".%s", fext);
	char **names = calloc((size_t)n * (size_t)k, sizeof *names);
	int status = EXIT_FAIL, failed = 0, skipped = 0;
	if (!names) {
		say("cnnf: %s: out of memory\n", o->outdir);
		return EXIT_FAIL;
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < k; j++)
			if (bo[j].use &&
			    !(names[(size_t)i * k + j] = cnnf_batch_name(o->outdir, o->inputs[i], bo[j].pattern,
									 bo[j].pattern ? NULL : o->suffix,
									 bo[j].ext ? bo[j].ext : fext ? fmt_ext : NULL))) {
				print_error();
				goto out;
			}
	if (cnnf_batch_check(o->inputs, n, names, k) < 0) {
		print_error();
		goto out;
	}
	/* Nor the model, the kernel file or the list, before the first write. */
	for (size_t i = 0; i < (size_t)n * k; i++)
		if (names[i] && side_input_check(o, names[i], name_is, names[i]) < 0)
			goto out;
	if (cnnf_batch_mkdir(o->outdir) < 0) {
		print_error();
		goto out;
	}
	status = EXIT_OK;
	for (int i = 0; i < n; i++) {
		char **outs = names + (size_t)i * k;
		if (o->skip_existing) {
			int all = 1;
			struct stat st;
			for (int j = 0; j < k; j++)
				if (outs[j] && lstat(outs[j], &st) < 0)
					all = 0;
			if (all) {
				skipped++;
				continue;
			}
		}
		options one = *o;
		int st = fn(ctx, &one, o->inputs[i], outs);
		/* Each input's metadata is its own copy: gone with the input. */
		cnnf_meta_clear(&one.meta);
		/* A usage error is the same for every input: said once, the batch stopped. */
		if (st == EXIT_USAGE) {
			status = EXIT_USAGE;
			goto out;
		}
		if (st != EXIT_OK)
			failed++;
	}
	if (skipped && !o->quiet)
		say("cnnf: %d of %d input%s skipped: %s outputs exist\n", skipped, n, n == 1 ? "" : "s",
		    skipped == 1 ? "its" : "their");
	if (failed) {
		say("cnnf: %d of %d input%s failed\n", failed, n, n == 1 ? "" : "s");
		status = EXIT_FAIL;
	}
out:
	for (size_t i = 0; i < (size_t)n * k; i++)
		free(names[i]);
	free(names);
	return status;
}

/* Write img to out as fmt with w, leaving out open for publishing; print the error. */
static int write_image_to(cnnf_output *out, const cnnf_image *img, cnnf_format fmt,
			  const cnnf_write_opts *w)
{
	cnnf_rows rows;
	cnnf_image_to_rows(img, &rows);
	if (cnnf_io_write_to(out, &rows, fmt, w) < 0) {
		print_error();
		return -1;
	}
	return 0;
}

/*
 * A model's input as the options want it: --channels converted (*img
 * replaced), --scale for float samples or the warning that it may be
 * wanted. 0, or -1 after the message.
 */
static int model_input(const options *o, cnnf_image **img, const char *name)
{
	char warn[256];
	if (o->channels && (*img)->channels != o->channels) {
		cnnf_image *c;
		if (cnnf_point_channels(*img, o->channels, name, &c) < 0) {
			print_error();
			return -1;
		}
		cnnf_image_free(*img);
		*img = c;
	}
	if (cnnf_segment_float_scale(*img, o->scale, warn, sizeof warn))
		say("cnnf: %s: %s\n", name, warn);
	return 0;
}

/*
 * Segment one image and write what was asked for. The outputs are opened
 * before the work and published together after it, so either all of them
 * are written or none is.
 */
static int segment_one(cnnf_net *net, cnnf_graph *graph, options *o, const char *in,
		       const char *out, const char *probs_path, const char *overlay_path)
{
	const cnnf_model *m = net ? net->model : NULL;
	int classes = m ? m->classes : 0;
	const char *name = strcmp(in, "-") ? in : "stdin";
	int status = EXIT_FAIL;
	cnnf_image *img = NULL, *labels = NULL, *probs = NULL, *overlay = NULL;
	enum { LABELS, PROBS, OVERLAY, NOUT };
	cnnf_output *dst[NOUT] = {NULL, NULL, NULL};
	const char *paths[NOUT] = {out, probs_path, overlay_path};
	for (int i = 0; i < NOUT; i++) {
		if (paths[i] && cnnf_output_open(paths[i], &dst[i]) < 0) {
			print_error();
			goto out;
		}
		/* The label map may replace its input in place; --probs and --overlay never. */
		if (dst[i] && (input_guard(in, paths[i], dst[i], i == LABELS && !o->outdir) < 0 ||
		               side_input_guard(o, paths[i], dst[i]) < 0))
			goto out;
		/* Published one after the other, the second would silently replace the first. */
		for (int j = 0; j < i; j++) {
			if (dst[i] && dst[j] && cnnf_output_same(dst[i], dst[j])) {
				say("cnnf: %s and %s are the same file\n", paths[j], paths[i]);
				goto out;
			}
		}
	}
	if (!(img = read_image(in, o, NULL)))
		goto out;
	if (model_input(o, &img, name) < 0)
		goto out;
	progress p = {name, -1};
	if (graph) {
		cnnf_infer_opts io = o->inf;
		io.notice = show_notice;
		io.notice_ctx = (void *)name;
		if (!o->quiet && isatty(STDERR_FILENO)) {
			io.progress = show_progress;
			io.progress_ctx = &p;
		}
		if (cnnf_infer_segment(graph, img, name, &io, &labels, probs_path ? &probs : NULL,
				       &classes) < 0) {
			print_error_about(name);
			goto out;
		}
	} else {
		/* Dense mode shares work between neighbours; the bound is the patch classifier's. */
		if (check_work(o, name, "segmenting it with this model",
			       (double)cnnf_model_macs(m) * img->width * img->height) < 0)
			goto out;
		cnnf_segment_opts so = o->seg;
		if (!o->quiet && isatty(STDERR_FILENO)) {
			so.progress = show_progress;
			so.progress_ctx = &p;
		}
		if (cnnf_segment_run(net, img, name, &so, &labels, probs_path ? &probs : NULL) < 0) {
			print_error_about(name);
			goto out;
		}
	}
	unsigned char palette[3 * CNNF_SEGMENT_MAX_CLASSES];
	cnnf_segment_palette(classes, palette);
	cnnf_write_opts w;
	cnnf_io_write_opts_init(&w);
	w.palette = palette;
	w.palette_size = classes;
	if (write_image_to(dst[LABELS], labels, CNNF_FORMAT_PNG, &w) < 0)
		goto out;
	cnnf_io_write_opts_init(&w);
	if (probs && write_image_to(dst[PROBS], probs, CNNF_FORMAT_NPY, &w) < 0)
		goto out;
	if (overlay_path) {
		w.quality = o->w.quality;
		w.subsampling = o->w.subsampling;
		if (!(overlay = cnnf_segment_overlay(img, labels, classes, 0.45))) {
			print_error();
			goto out;
		}
		/* The overlay is the input's picture: it keeps the input's metadata. */
		w.meta = output_meta(o, &o->meta);
		o->wwarn.count = 0;
		w.warn = &o->wwarn;
		if (write_image_to(dst[OVERLAY], overlay, cnnf_io_format_for(overlay_path, NULL),
				   &w) < 0)
			goto out;
	}
	int published = cnnf_output_publish(dst, NOUT);
	for (int i = 0; i < NOUT; i++)
		dst[i] = NULL;
	if (published < 0) {
		print_error();
		goto out;
	}
	status = EXIT_OK;
	say_warning(o); /* each image of a batch its own */
	if (overlay_path)
		say_write_warning(o, overlay_path);
out:
	for (int i = 0; i < NOUT; i++)
		cnnf_output_discard(dst[i]);
	cnnf_image_free(img);
	cnnf_image_free(labels);
	cnnf_image_free(probs);
	cnnf_image_free(overlay);
	return status;
}

typedef struct segment_batch {
	cnnf_net *net;
	cnnf_graph *graph;
} segment_batch;

/* One input of segment --outdir: the model loaded once for all of them. */
static int segment_batch_one(void *ctx, options *o, const char *in, char **outs)
{
	segment_batch *sb = ctx;
	return segment_one(sb->net, sb->graph, o, in, outs[0], outs[1], outs[2]);
}

static int run_segment(const command *cmd, options *o, char **ops)
{
	if (!o->model)
		return cmd_usage(cmd, "--model FILE is required");
	if (o->w.format != CNNF_FORMAT_NONE && o->w.format != CNNF_FORMAT_PNG)
		return cmd_usage(cmd, "label maps are written as PNG");
	if (!o->outdir && check_not_terminal(ops[1]) < 0)
		return EXIT_USAGE;
	if (!o->outdir && strcmp(ops[1], "-") && cnnf_io_format_from_name(ops[1]) != CNNF_FORMAT_PNG)
		return cmd_usage(cmd, "%s: the label map is a PNG; name it .png", ops[1]);
	if (o->outdir && o->name && cnnf_io_format_from_name(o->name) != CNNF_FORMAT_PNG)
		return cmd_usage(cmd, "--name %s: the label map is a PNG; end it in .png", o->name);
	if (o->probs && cnnf_io_format_from_name(o->probs) != CNNF_FORMAT_NPY)
		return cmd_usage(cmd, "--probs %s: probabilities are written as .npy",
				   o->probs);
	if (o->overlay) {
		cnnf_format f = cnnf_io_format_for(o->overlay, NULL);
		if (f != CNNF_FORMAT_PNG && f != CNNF_FORMAT_JPEG && f != CNNF_FORMAT_PNM)
			return cmd_usage(cmd, "--overlay %s: name it .png, .jpg or .ppm",
					   o->overlay);
	}
	int status = EXIT_FAIL;
	cnnf_net *net = NULL;
	cnnf_model *m = NULL;
	cnnf_graph *graph = NULL;
	if (cnnf_describe_is_onnx(o->model)) {
		if (!(graph = load_run_graph(o, o->model)))
			return EXIT_FAIL;
		goto run;
	}
	size_t ml = strlen(o->model);
	if (ml > 5 && strcmp(o->model + ml - 5, ".onnx") == 0 && access(o->model, R_OK) == 0) {
		say("cnnf: %s: not an ONNX model (its first bytes are no ModelProto)\n", o->model);
		return EXIT_FAIL;
	}
	if (o->inf.nmean || o->inf.nstd)
		return cmd_usage(cmd, "--mean and --std are for ONNX models; %s has its own", o->model);
	if (!(m = cnnf_model_load(o->model, &o->limits))) {
		print_error();
		return EXIT_FAIL;
	}
	if (m->weights_init) {
		say("cnnf: %s: no weights (it ends in 'weights init'): train it first\n",
			o->model);
		goto out;
	}
	net = cnnf_net_new(m, o->model, o->seg.threads, o->seg.mode == CNNF_SEGMENT_DENSE);
	if (!net) {
		print_error_about(o->model);
		goto out;
	}
run:
	if (!o->outdir) {
		status = segment_one(net, graph, o, ops[0], ops[1], o->probs, o->overlay);
		goto out;
	}
	segment_batch sb = {net, graph};
	batch_out bo[3] = {{o->name, ".png", "--name", 1},
			   {o->probs, NULL, "--probs", o->probs != NULL},
			   {o->overlay, NULL, "--overlay", o->overlay != NULL}};
	status = batch_run(o, bo, 3, segment_batch_one, &sb);
out:
	cnnf_net_free(net);
	cnnf_model_free(m);
	cnnf_graph_free(graph);
	return status;
}

/* apply one input with the model loaded; an exit status. */
static int apply_one(cnnf_graph *g, options *o, const char *in, const char *outpath)
{
	cnnf_format fmt;
	if (output_format(o, outpath, &fmt) < 0)
		return EXIT_USAGE;
	int status = EXIT_FAIL;
	cnnf_output *out = NULL;
	cnnf_image *img = NULL, *res = NULL;
	if (!(out = open_output(o, outpath, in)))
		goto done;
	if (!(img = read_image(in, o, &fmt)))
		goto done;
	const char *name = strcmp(in, "-") ? in : "stdin";
	if (model_input(o, &img, name) < 0)
		goto done;
	cnnf_infer_opts io = o->inf;
	io.notice = show_notice;
	io.notice_ctx = (void *)name;
	if (cnnf_infer_apply(g, img, name, &io, &res) < 0) {
		print_error_about(name);
		goto done;
	}
	if (check_channels(res->channels, res->alpha, fmt, outpath, &o->w) < 0)
		goto done;
	/* A model that upsamples 2x makes twice the pixels of the same scene. */
	result_meta(o, &o->meta, (double)res->width / img->width, (double)res->height / img->height);
	status = write_result(out, res, fmt, o);
	out = NULL;
	res = NULL;
done:
	cnnf_output_discard(out);
	cnnf_image_free(img);
	cnnf_image_free(res);
	return status;
}

/* One input of apply --outdir: the model loaded once for all of them. */
static int apply_batch_one(void *ctx, options *o, const char *in, char **outs)
{
	if (batch_format_known(o, in, outs[0]) < 0)
		return EXIT_FAIL;
	int status = apply_one(ctx, o, in, outs[0]);
	if (status == EXIT_OK)
		say_warning(o);
	return status;
}

static int run_apply(const command *cmd, options *o, char **ops)
{
	if (!o->model)
		return cmd_usage(cmd, "--model FILE is required");
	/* The output's name is checked before the model is read: a usage error costs nothing. */
	cnnf_format fmt;
	options first = *o;
	if (!o->outdir && output_format(&first, ops[1], &fmt) < 0)
		return EXIT_USAGE;
	if (!cnnf_describe_is_onnx(o->model)) {
		say("cnnf: %s: not an ONNX model (apply runs image-to-image ONNX models)\n",
		    o->model);
		return EXIT_FAIL;
	}
	cnnf_graph *g = load_run_graph(o, o->model);
	if (!g)
		return EXIT_FAIL;
	int status;
	if (o->outdir) {
		batch_out bo = {o->name, NULL, "--name", 1};
		status = batch_run(o, &bo, 1, apply_batch_one, g);
	} else
		status = apply_one(g, o, ops[0], ops[1]);
	cnnf_graph_free(g);
	return status;
}

/* One line per epoch on stdout; the progress bar on a terminal goes to stderr. */
typedef struct train_ui {
	int bar;               /* show the progress bar */
	int last;              /* percent shown last */
	int failed;            /* stdout failed */
	int done;              /* epochs finished */
	double start;          /* when training began (monotonic seconds) */
	int epochs;            /* how many there are */
	cnnf_train_epoch best; /* the best epoch so far */
	int stopped;           /* the epoch --patience stopped the run after, or 0 */
	char recipe[512];      /* the optimiser and schedule, said before the first epoch */
} train_ui;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void clear_bar(train_ui *ui)
{
	if (ui->bar) {
		fputs("\r\033[K", stderr);
		ui->last = -1;
	}
}

static void train_epoch(void *ctx, const cnnf_train_epoch *e)
{
	train_ui *ui = ctx;
	clear_bar(ui);
	ui->done = e->epoch;
	if (e->best)
		ui->best = *e;
	if (e->stopped)
		ui->stopped = e->epoch;
	/* Said with the first epoch, not before it: a run that fails early prints nothing. */
	if (e->epoch == 1)
		printf("%s\n", ui->recipe);
	printf("epoch %d/%d  loss %.4f  train %.2f%%", e->epoch, e->epochs, e->loss,
	       100 * e->train_acc);
	if (e->val_pixels)
		printf("  val %.2f%%  mIoU %.4f", 100 * e->val_acc, e->val_miou);
	else
		printf("  val -  mIoU -");
	printf("  lr %.3g  %.1f s%s\n", e->lr, e->seconds, e->best ? "  *" : "");
	if (fflush(stdout) != 0)
		ui->failed = 1;
}

static void train_warn(void *ctx, const char *msg)
{
	clear_bar(ctx);
	say("cnnf: %s\n", msg);
}

/* "[=====     ] epoch 2/10  37%  1:23 left": the epoch's progress and the run's time left. */
static void train_progress(void *ctx, size_t done, size_t total)
{
	train_ui *ui = ctx;
	int pct = (int)(100.0 * done / (total ? total : 1));
	if (!ui->bar || pct == ui->last)
		return;
	ui->last = pct;
	int filled = pct * 30 / 100, epochs = ui->epochs;
	fprintf(stderr, "\r[%.*s%*s] epoch %d/%d %3d%%", filled, "==============================",
		30 - filled, "", ui->done + 1, epochs, pct);
	double frac = (ui->done + (double)done / (total ? total : 1)) / epochs;
	if (frac > 0.01) {
		long sec = (long)((now_seconds() - ui->start) * (1 - frac) / frac + 0.5);
		fprintf(stderr, "  %ld:%02ld left", sec / 60, sec % 60);
	}
	fputs("\033[K", stderr);
}

static int run_train(const command *cmd, options *o, char **ops)
{
	if (!o->model && !o->arch)
		return cmd_usage(cmd, "--model ARCH or --arch small|medium|large is required");
	if (o->model && o->arch)
		return cmd_usage(cmd, "--model and --arch both give the architecture: use one");
	if (o->arch && strcmp(o->arch, "small") && strcmp(o->arch, "medium") &&
	    strcmp(o->arch, "large"))
		return cmd_usage(cmd, "--arch: '%s' is not small, medium or large",
				   o->arch);
	if (!o->output)
		return cmd_usage(cmd, "--output OUT is required");
	const cnnf_optim_opts *op = &o->train.optim;
	if (o->sgd_only && op->kind != CNNF_OPTIM_SGD)
		return cmd_usage(cmd, "%s applies to --optimizer sgd, not %s", o->sgd_only,
				   cnnf_optim_name(op->kind));
	if (o->adam_only && op->kind == CNNF_OPTIM_SGD)
		return cmd_usage(cmd, "%s applies to --optimizer adam or adamw, not sgd",
				   o->adam_only);
	if (o->step_only && op->schedule != CNNF_SCHED_STEP)
		return cmd_usage(cmd, "%s applies to --schedule step, not %s", o->step_only,
				   cnnf_sched_name(op->schedule));
	if (op->warmup >= o->train.epochs)
		return cmd_usage(cmd, "--warmup: %d epochs is not below --epochs %d", op->warmup,
				   o->train.epochs);
	cnnf_model *m;
	if (o->arch) {
		/* A built-in architecture has no mean and std of its own: the images' are used. */
		m = cnnf_train_arch(o->arch, ops[0], o->train.ignore, o->train.max_pixels);
		o->train.normalize_auto = 1;
	} else {
		m = cnnf_model_load(o->model, &o->limits);
	}
	if (!m) {
		print_error();
		return EXIT_FAIL;
	}
	if (o->train.nweights && o->train.nweights != m->classes) {
		int n = o->train.nweights, k = m->classes;
		cnnf_model_free(m);
		return cmd_usage(cmd, "--class-weights: %d weight%s for a model of %d classes: give "
				   "one a class", n, n == 1 ? "" : "s", k);
	}
	train_ui ui = {.bar = !o->quiet && isatty(STDERR_FILENO), .last = -1,
		       .start = now_seconds()};
	o->train.epoch_cb = train_epoch;
	o->train.progress_cb = train_progress;
	o->train.warn_cb = train_warn;
	o->train.cb_ctx = &ui;
	cnnf_optim_describe(op, o->train.epochs, ui.recipe, sizeof ui.recipe);
	/* What else shapes the run, said only when asked for: without it the line is as before. */
	size_t used = strlen(ui.recipe);
	if (o->train.augment) {
		char list[32];
		cnnf_augment_name(o->train.augment, list, sizeof list);
		snprintf(ui.recipe + used, sizeof ui.recipe - used, "  augment %s", list);
		used = strlen(ui.recipe);
	}
	if (o->class_weights_arg) {
		snprintf(ui.recipe + used, sizeof ui.recipe - used, "  class weights %.80s",
			 o->class_weights_arg);
		used = strlen(ui.recipe);
	}
	if (o->train.patience)
		snprintf(ui.recipe + used, sizeof ui.recipe - used, "  patience %d",
			 o->train.patience);
	int status = EXIT_FAIL;
	/* Both outputs are known writable before the first epoch, not after hours of it. */
	cnnf_output *dst = NULL, *ck = NULL;
	/* A FIFO's reader would take the trial open's close for the end of the data. */
	const char *ckpath = o->train.checkpoint;
	if ((ckpath && !cnnf_output_in_place(ckpath) && cnnf_output_open(ckpath, &ck) < 0) ||
	    cnnf_output_open(o->output, &dst) < 0) {
		print_error();
		cnnf_output_discard(ck);
		goto out;
	}
	/* The final model would replace the best epoch's, which --checkpoint asks to keep. */
	int same = ck && cnnf_output_same(ck, dst);
	cnnf_output_discard(ck);
	if (same) {
		say("cnnf: %s and %s are the same file\n", ckpath, o->output);
		goto out;
	}
	if (cnnf_train_run(m, ops[0], &o->train) < 0 ||
	    cnnf_model_write_as(m, cnnf_output_stream(dst), cnnf_output_name(dst)) < 0 ||
	    cnnf_output_publish(&dst, 1) < 0) {
		if (ui.bar)
			fputs("\r\033[K", stderr);
		print_error_about(ops[0]);
		goto out;
	}
	/* One line to end on: the epoch kept, how it validated, what was written. */
	const cnnf_train_epoch *b = &ui.best;
	printf("best epoch %d of %d", b->epoch, b->epochs);
	if (b->val_pixels)
		printf(" (val %.2f%%  mIoU %.4f)", 100 * b->val_acc, b->val_miou);
	else
		printf(" (loss %.4f, no validation pixels)", b->loss);
	if (ui.stopped)
		printf(": stopped early after epoch %d (--patience %d)", ui.stopped,
		       o->train.patience);
	printf(": wrote %s (the last epoch)", o->output);
	if (ckpath)
		printf(" and %s (the best)", ckpath);
	printf("\n");
	if (ui.failed || fflush(stdout) != 0 || ferror(stdout)) {
		say("cnnf: stdout: write error: %s\n", strerror(errno));
		goto out;
	}
	status = EXIT_OK;
out:
	cnnf_output_discard(dst);
	cnnf_model_free(m);
	return status;
}

/* A signal that ends cnnf: its temporary files go first, then it dies of the signal as before. */
static void on_signal(int sig)
{
	if (sig == SIGBUS) {
		/* 8-bit PNM inputs are read as mappings of their files (io_pnm.c). */
		static const char msg[] = "cnnf: an input file was cut short while it was read "
		                          "(bus error); nothing was written\n";
		ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
		(void)r;
	}
	cnnf_output_cleanup();
	raise(sig); /* SA_RESETHAND restored the default; delivered when this returns */
}

/*
 * The signals that end a process by default remove the temporary files
 * first. One that was ignored when cnnf started (nohup) stays ignored.
 * SIGXFSZ is ignored so that a write past the file size limit fails with
 * EFBIG and is reported like any other write error ("File too large").
 */
static void install_signals(void)
{
	/*
	 * Every signal whose default ends the process, short of a crash: timeout -s
	 * ALRM, ulimit -t; and SIGBUS, which a mapped input cut short by another
	 * process raises.
	 */
	static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP,    SIGQUIT, SIGPIPE, SIGALRM,
	                           SIGUSR1, SIGUSR2, SIGVTALRM, SIGPROF, SIGXCPU, SIGBUS};
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		struct sigaction old, sa;
		if (sigaction(sigs[i], NULL, &old) < 0 || old.sa_handler == SIG_IGN)
			continue;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESETHAND;
		sigaction(sigs[i], &sa, NULL);
	}
	signal(SIGXFSZ, SIG_IGN);
}

/* One input of a batch of a filter, point, pool or apply command: the command as for one. */
static int batch_one_command(void *ctx, options *o, const char *in, char **outs)
{
	const command *cmd = ctx;
	if (batch_format_known(o, in, outs[0]) < 0)
		return EXIT_FAIL;
	char *ops[2] = {(char *)in, outs[0]};
	int status = cmd->run(cmd, o, ops);
	if (status == EXIT_OK)
		say_warning(o);
	return status;
}

/* cmd --outdir DIR INPUT... (and --files-from LIST). */
static int run_batch_command(const command *cmd, options *o, char **ops, int nops)
{
	int status = EXIT_FAIL;
	for (int i = 0; i < nops; i++)
		if (cnnf_batch_add(&o->inputs, &o->ninputs, ops[i]) < 0) {
			say("cnnf: %s: %s\n", ops[i],
			    o->ninputs >= CNNF_BATCH_MAX_INPUTS ? "too many inputs" : "out of memory");
			goto out;
		}
	if (o->files_from && cnnf_batch_read_list(o->files_from, &o->inputs, &o->ninputs) < 0) {
		print_error();
		goto out;
	}
	/* segment and apply load their model once for the whole batch. */
	if (cmd->run == run_segment || cmd->run == run_apply) {
		status = cmd->run(cmd, o, NULL);
		goto out;
	}
	if (cmd->run == run_filter) {
		/* The kernel (conv's file) checked once: a bad one is one error, not one an input. */
		const char *kname;
		int usage;
		options probe = *o;
		cnnf_kernel *k = build_kernel(cmd, &probe, &kname, &usage);
		if (!k) {
			if (*cnnf_error_get())
				print_error();
			status = usage ? EXIT_USAGE : EXIT_FAIL;
			goto out;
		}
		cnnf_kernel_free(k);
	}
	batch_out bo = {o->name, NULL, "--name", 1};
	status = batch_run(o, &bo, 1, batch_one_command, (void *)cmd);
out:
	cnnf_batch_free_list(o->inputs, o->ninputs);
	o->inputs = NULL;
	o->ninputs = 0;
	return status;
}

static const command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("a command is needed; see 'cnnf --help'%s%s", "", "");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_help();
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		char libs[256];
		printf("cnnf %s\nvector path: %s\nlibraries: %s\n", CNNF_VERSION, cnnf_simd_name(),
		       cnnf_io_versions(libs, sizeof libs));
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
	}
	const command *cmd = find_command(argv[1]);
	if (!cmd) {
		if (argv[1][0] == '-')
			return usage_error("a command must come first, not '%s'; see 'cnnf --help'%s",
					   argv[1], "");
		return usage_error("unknown command '%s'; see 'cnnf --help'%s", argv[1], "");
	}

	struct option longopts[NOPTS + 1];
	/* No leading '+': glibc permutes, so options may follow the operands. */
	char shortopts[64];
	size_t sl = 0;
	size_t nl = 0;
	for (size_t i = 0; i < NOPTS; i++) {
		/*
		 * A name two commands use differently (--normalize: a kernel's, or
		 * train's --normalize auto) means what this command takes.
		 */
		int other = 0;
		for (size_t j = 0; j < NOPTS; j++)
			other |= j != i && strcmp(optdescs[j].name, optdescs[i].name) == 0 &&
				 (optdescs[j].groups & cmd->groups) && !(optdescs[i].groups & cmd->groups);
		if (other)
			continue;
		longopts[nl++] = (struct option){optdescs[i].name, optdescs[i].has_arg, NULL,
						 optdescs[i].val};
		if (optdescs[i].val < 256) {
			shortopts[sl++] = (char)optdescs[i].val;
			if (optdescs[i].has_arg)
				shortopts[sl++] = ':';
		}
	}
	shortopts[sl] = '\0';
	longopts[nl] = (struct option){0, 0, 0, 0};

	options o = {.max_pixels = CNNF_DEFAULT_MAX_PIXELS, .max_work = CNNF_DEFAULT_MAX_WORK,
		     .page = -1};
	cnnf_filter_opts_init(&o.f);
	cnnf_segment_opts_init(&o.seg);
	cnnf_infer_opts_init(&o.inf);
	cnnf_model_limits_init(&o.limits);
	cnnf_train_opts_init(&o.train);
	cnnf_io_write_opts_init(&o.w);
	int help = 0;
	opterr = 0;
	int c;
	int sub_argc = argc - 1;
	char **sub_argv = argv + 1;
	for (int before = optind;
	     (c = getopt_long(sub_argc, sub_argv, shortopts, longopts, NULL)) != -1;
	     before = optind) {
		if (c == '?')
			return option_error(cmd, sub_argc, sub_argv, before);
		if (c == O_HELP) {
			help = 1;
			continue;
		}
		if (c == O_VERSION) {
			char libs[256];
		printf("cnnf %s\nvector path: %s\nlibraries: %s\n", CNNF_VERSION, cnnf_simd_name(),
		       cnnf_io_versions(libs, sizeof libs));
			return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
		}
		reading_cmd = cmd;
		if (set_option(cmd, &o, c, optarg) < 0)
			return EXIT_USAGE;
	}
	if (help) {
		print_command_help(cmd);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
	}
	int nops = sub_argc - optind;
	/* Operands beyond those the command takes are named: a stray word is easy to miss. */
	int batch = (cmd->groups & G_BATCH) && o.outdir;
	if ((cmd->groups & G_BATCH) && !o.outdir &&
	    (o.suffix || o.name || o.skip_existing || o.files_from))
		return cmd_usage(cmd, "--suffix, --name, --skip-existing and --files-from go with "
				      "--outdir DIR");
	/* Operands beyond those the command takes are named: a stray word is easy to miss. */
	int want = cmd->operands == 2 ? 2 : 1;
	if (!batch && nops > want)
		return cmd_usage(cmd, "too many operands: %d given, '%s' the first extra one", nops,
				 sub_argv[optind + want]);
	if (batch) {
		if (nops < 1 && !o.files_from)
			return cmd_usage(cmd, "--outdir needs INPUTs (operands or --files-from LIST)");
		if (o.suffix && o.name)
			return cmd_usage(cmd, "--suffix and --name both name the outputs; give one");
		for (int i = 0; o.files_from && !strcmp(o.files_from, "-") && i < nops; i++)
			if (!strcmp(sub_argv[optind + i], "-"))
				return cmd_usage(cmd, "'-' is the --files-from list; it cannot be an input too");
	} else if (cmd->operands == 3) {
		if (nops != 1)
			return cmd_usage(cmd, "needs one LIST file");
	} else if (nops != cmd->operands) {
		if (cmd->operands == 2)
			return cmd_usage(cmd, (cmd->groups & G_BATCH)
						  ? "needs INPUT and OUTPUT, or --outdir DIR and INPUTs"
						  : "needs INPUT and OUTPUT");
		return cmd_usage(cmd, "needs one FILE");
	}
	cnnf_error_clear();
	install_signals();
	int status = batch ? run_batch_command(cmd, &o, sub_argv + optind, nops)
	                   : cmd->run(cmd, &o, sub_argv + optind);
	if (!batch && status == EXIT_OK)
		say_warning(&o);
	cnnf_meta_clear(&o.meta);
	return status;
}
