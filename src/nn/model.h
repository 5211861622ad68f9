/* model.h: the ConvNet model file (cnnf-model(5)): parsing, validation, shapes. */
#ifndef CNNF_MODEL_H
#define CNNF_MODEL_H

#include <stddef.h>

typedef enum cnnf_layer_type {
	CNNF_LAYER_CONV,      /* conv out=N kernel=K|KHxKW [stride=S] [pad=P] [dilation=D] */
	CNNF_LAYER_RELU,      /* relu */
	CNNF_LAYER_MAXPOOL,   /* maxpool kernel=K [stride=S] */
	CNNF_LAYER_AVGPOOL,   /* avgpool kernel=K [stride=S] */
	CNNF_LAYER_BATCHNORM, /* batchnorm [eps=E] */
	CNNF_LAYER_DROPOUT,   /* dropout [p=P] */
	CNNF_LAYER_FC,        /* fc out=N */
	CNNF_LAYER_SOFTMAX    /* softmax */
} cnnf_layer_type;

/* One layer. Shapes are filled in by the loader; parameters point into model->params. */
typedef struct cnnf_layer {
	cnnf_layer_type type;
	int line;               /* header line it was declared on, for messages */
	int out;                /* conv: output channels; fc: output features */
	int kh, kw;             /* conv and pool window (pool: kh == kw == kernel) */
	int stride;             /* conv and pool; pool default = kernel */
	int pad;                /* conv: zero padding on every side */
	int dilation;           /* conv */
	double eps;             /* batchnorm, default 1e-5 */
	double p;               /* dropout probability, default 0.5 */
	int in_c, in_h, in_w;   /* input shape (C x H x W) */
	int out_c, out_h, out_w;/* output shape */
	size_t nparams;         /* floats this layer owns in model->params */
	float *weight;          /* conv [out][in][kh][kw]; fc [out][in_c*in_h*in_w]; bn gamma [C] */
	float *bias;            /* conv, fc [out]; bn beta [C] */
	float *mean, *var;      /* batchnorm running statistics [C] */
} cnnf_layer;

typedef struct cnnf_model {
	int channels, height, width; /* input patch: C x H x W */
	float *mean, *std;      /* [channels]: input normalisation (v - mean) / std */
	int nlabels;            /* 0, or classes: names of the classes */
	char **labels;          /* [nlabels] */
	int nlayers;
	cnnf_layer *layers;     /* [nlayers] */
	int classes;            /* K: the final output is K x 1 x 1 */
	int weights_init;       /* 1: header ends in "weights init" (no values; cnnf train) */
	size_t nparams;         /* total parameter count */
	float *params;          /* [nparams]: every layer's parameters in layer order */
} cnnf_model;

/*
 * Limits the loader enforces before allocating; the defaults are those of
 * cnnf_model_limits_init(). A bound on activations keeps a hostile model
 * from asking for gigabytes per patch.
 */
typedef struct cnnf_model_limits {
	size_t max_params;      /* default 2^28 floats */
	size_t max_activations; /* largest C*H*W of any layer's input or output; default 2^26 */
} cnnf_model_limits;

void cnnf_model_limits_init(cnnf_model_limits *l);

/*
 * Load a model file. Checks everything before anything big is allocated:
 * the magic line "cnnf-model 1", known keywords and keys, positive sizes,
 * kernels that fit their inputs, a final output of K x 1 x 1 with K >= 2,
 * as many labels as classes, an exact weight count of finite values. Errors
 * name the file and line: "m.cnnf:4: conv: kernel 7 does not fit the
 * 5x5 input (pad 0)". limits may be NULL for the defaults. Fields a layer
 * type does not use are 0. Returns an owned model or NULL.
 */
cnnf_model *cnnf_model_load(const char *path, const cnnf_model_limits *limits);

/* The same from a buffer of len bytes (it need not end in NUL); name is used in messages. */
cnnf_model *cnnf_model_parse(const char *buf, size_t len, const char *name,
			     const cnnf_model_limits *limits);

void cnnf_model_free(cnnf_model *m);

/* A layer type's keyword ("conv", "relu", ...). */
const char *cnnf_model_layer_name(cnnf_layer_type t);

/*
 * Receptive field of the whole network on the input patch (rows, columns):
 * padding counts, and an fc layer is a kernel the size of its input. And the
 * multiply-adds one patch costs (conv and fc layers).
 */
void cnnf_model_receptive_field(const cnnf_model *m, int *rf_h, int *rf_w);
unsigned long long cnnf_model_macs(const cnnf_model *m);

#endif
