/* graph.h: a network as a graph (DAG) of operators over N-d tensors, the operator table and the executor. */
#ifndef CNNF_GRAPH_H
#define CNNF_GRAPH_H

#include <stddef.h>
#include <stdint.h>

/*
 * The contract.
 *
 * Values are dense row-major tensors of float32 or int64 (ONNX's element
 * types 1 and 7; a loader turns every other integer or boolean type into
 * int64 and double into float32). Images enter as 1 x C x H x W.
 *
 * A graph is built once from a file (onnx.c, or a cnnf-model chain), then
 * finished: every node's operator is looked up in the table (ops.h) and its
 * attributes parsed, the nodes are sorted so that each comes after the
 * producers of its inputs (a cycle, or an input nothing produces, is an
 * error naming the node), and the last consumer of every value is found.
 *
 * Before a run the graph is prepared for the actual input shapes: in
 * order, every node's output types and shapes are inferred; a node whose
 * inputs are all constant (initializers, Constant nodes, and Shape of any
 * value, whose shape is then known) is computed there and then, so the
 * Shape/Gather/Concat/Reshape chains of dynamic-size exports become
 * constants; the rest is checked against the limits (elements per value,
 * activation memory at its peak, multiply-adds) before anything is
 * allocated. Preparing again for other shapes forgets the earlier ones.
 *
 * A run then allocates each value when its producer runs and frees it after
 * its last consumer. Results do not depend on the thread count.
 *
 * Errors: -1 with one message, "FILE: node 'NAME' (OpType): ..." for a
 * node's failure (cnnf_graph_node_error), "FILE: ..." otherwise.
 */

enum { CNNF_DT_F32 = 1, CNNF_DT_I64 = 7 };

#define CNNF_GRAPH_MAX_DIMS 8

/* A tensor: its type, shape and, once known, its elements. */
typedef struct cnnf_value {
	char *name;         /* as the file names it (unique in the graph) */
	int type;           /* CNNF_DT_F32 or CNNF_DT_I64; 0 until inferred */
	int ndim;           /* 0 (a scalar) .. CNNF_GRAPH_MAX_DIMS; -1 until inferred */
	int64_t dim[CNNF_GRAPH_MAX_DIMS];
	void *data;         /* float or int64_t elements; NULL when not (yet) computed */
	/* What the graph knows of it (set by the graph, read by operators). */
	int is_init;        /* an initializer: data came from the file and stays */
	int is_const;       /* data is known before the run (initializer or folded) */
	int producer;       /* index of the node that makes it, -1 for inputs and initializers */
	int last_use;       /* index of the last node that reads it, -1 for none */
	int is_output;      /* a graph output: kept after the run */
	/* The executor's own: where a run puts it in the graph's arena (graph.c). */
	int in_arena;
	size_t arena_off;
} cnnf_value;

/* ONNX's attribute types, with its numbers. */
enum {
	CNNF_ATTR_FLOAT = 1,
	CNNF_ATTR_INT = 2,
	CNNF_ATTR_STRING = 3,
	CNNF_ATTR_TENSOR = 4,
	CNNF_ATTR_GRAPH = 5, /* kept only so that it can be refused by name */
	CNNF_ATTR_FLOATS = 6,
	CNNF_ATTR_INTS = 7,
	CNNF_ATTR_STRINGS = 8
};

/* One attribute of a node, as the file gives it. */
typedef struct cnnf_attr {
	char *name;
	int type;         /* CNNF_ATTR_* */
	int64_t i;        /* INT */
	float f;          /* FLOAT */
	double d;         /* FLOAT in double where its maker had one (cnnf-model chains); 0 else */
	char *s;          /* STRING (NUL-terminated; slen bytes before it) */
	size_t slen;
	size_t n;         /* elements of ints or floats */
	int64_t *ints;    /* INTS */
	float *floats;    /* FLOATS */
	cnnf_value *t;    /* TENSOR (name NULL, data owned by the attribute) */
} cnnf_attr;

struct cnnf_op;

/* One operator application. */
typedef struct cnnf_node {
	char *name;               /* as in the file, may be "" */
	char *op_type;            /* as in the file */
	const struct cnnf_op *op; /* its row in the operator table */
	int nin, nout;
	int *in;                  /* value indices; -1 for an optional input left out */
	int *out;                 /* value indices; -1 for an optional output not wanted */
	int nattr;
	cnnf_attr *attr;
	/*
	 * op->param_size bytes, zeroed, filled by op->parse, freed with free():
	 * it owns no allocation (it may point into n->attr, which lives as long).
	 */
	void *param;
	void *state;              /* what op->prepare made for the current shapes, or NULL */
	int folded;               /* computed at prepare time: the run skips it */
	int relu;                 /* a Relu fused into it (op->fuses_relu): store max(y, 0) */
	/*
	 * A 2-D MaxPool of stride 1 without pads fused after it (and after the
	 * Relu; op->fuses_pool): a pool_k[0] x pool_k[1] window, taps
	 * pool_d[0], pool_d[1] apart. Output 0 is the pool's. pool_k[0] 0: none.
	 */
	int pool_k[2], pool_d[2];
} cnnf_node;

typedef struct cnnf_graph cnnf_graph;

/*
 * One row of the operator table: an operator and its callbacks. Every
 * callback returns 0, or -1 after cnnf_graph_node_error(). Inputs an
 * operator reads as numbers at prepare time (Reshape's shape, Slice's
 * starts, Resize's scales, Pad's pads...) must be constant; infer refuses
 * them otherwise ("input 2 must be a constant").
 */
typedef struct cnnf_op {
	const char *name;                 /* the ONNX op_type */
	int min_in, max_in;               /* inputs allowed, omitted optional ones counted */
	int min_out, max_out;
	size_t param_size;                /* bytes of n->param; 0 for none */
	/* Read n's attributes into n->param; refuse values it cannot run. May be NULL. */
	int (*parse)(cnnf_graph *g, cnnf_node *n);
	/*
	 * Set every output's type, ndim and dim from the inputs' (constant
	 * inputs have their data). Must check every size it makes
	 * (cnnf_graph_set_shape does).
	 */
	int (*infer)(cnnf_graph *g, cnnf_node *n);
	/*
	 * Optional, after infer, once per prepare: make n->state for these
	 * shapes (an engine kernel from constant weights, say). release frees it.
	 */
	int (*prepare)(cnnf_graph *g, cnnf_node *n);
	void (*release)(cnnf_node *n);
	/*
	 * Compute the outputs: the executor has allocated each output's data
	 * (zeroed is not promised: write every element) and every input has
	 * its data. in[i] is NULL for an omitted input, out[i] for an unwanted
	 * output. threads: as cnnf_parallel_for takes it.
	 */
	int (*forward)(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		       int threads);
	/* Multiply-adds (or elementary operations) one forward costs, from the shapes. May be NULL (0). */
	double (*work)(const cnnf_graph *g, const cnnf_node *n);
	/*
	 * 1 when forward reads only its inputs' types and shapes (Shape, Size):
	 * the graph then computes it at prepare time, with in[i]->data NULL
	 * for inputs not constant, and its outputs become constants.
	 */
	int shape_only;
	/*
	 * 1 when forward stores max(y, 0) for output 0 where n->relu is set,
	 * so that a Relu reading only that output can be fused into it
	 * (nn/pass.h).
	 */
	int fuses_relu;
	/* 1 when forward applies the MaxPool of n->pool_k, n->pool_d to output 0 (nn/pass.h). */
	int fuses_pool;
	/*
	 * Training (graph training; the driver is not built yet). Bit k set: input k is a float input a
	 * gradient can flow into (data, weights, biases); the others (shapes,
	 * axes, indices, running statistics) never carry one.
	 */
	unsigned grad_in;
	/*
	 * Optional: the gradient of the loss with respect to the inputs. in and
	 * out are as forward left them (in the graph's training mode when
	 * g->training is set); dout[k] is dL/d(output k), of output k's shape,
	 * or NULL where output k does not reach the loss (zero). For each input
	 * k with din[k] not NULL (only inputs of grad_in), ADD dL/d(input k)
	 * into din[k], of input k's shape: a value read by several nodes, or
	 * twice by one, sums what each adds. Results must not depend on the
	 * thread count. An operator without it cannot be trained through.
	 */
	int (*backward)(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
			const float *const *dout, float *const *din, int threads);
} cnnf_op;

/* Limits a prepared graph must stay within. */
typedef struct cnnf_graph_limits {
	uint64_t max_elements;   /* elements of any one value */
	uint64_t max_activation; /* bytes of values alive at once, constants apart */
	uint64_t max_params;     /* float elements of the initializers together */
} cnnf_graph_limits;

/* Defaults: 2^28 elements, 4 GiB of activations, 2^28 parameters. */
void cnnf_graph_limits_init(cnnf_graph_limits *l);

struct cnnf_graph {
	char *file;           /* the model's file name, for messages */
	int opset;            /* the ai.onnx opset the nodes follow (cnnf-model chains: 17) */
	int nval, cap_val;
	cnnf_value *val;
	int nnode, cap_node;
	cnnf_node *node;      /* in execution order once finished */
	int nin, nout;
	int *in;              /* the graph's inputs, initializers excluded */
	int *out;
	/* Declared input shapes (-1 for a dimension named but not fixed), [nin][MAX_DIMS]. */
	int *in_ndim;
	int64_t (*in_dim)[CNNF_GRAPH_MAX_DIMS];
	int *in_type;         /* [nin] declared element types */
	/* The executor's own (hash of value names, sizes of constants folded). */
	int *hash;
	int hash_cap;
	uint64_t const_bytes;
	void *arena;          /* the run's values, placed at prepare time (graph.c) */
	size_t arena_size;
	struct cnnf_buf *pool; /* buffers of runs, kept for reuse (graph.c) */
	int npool, cap_pool;
	uint64_t pool_bytes;
	uint64_t params;      /* float elements of the initializers together */
	cnnf_graph_limits limits;
	int threads;          /* for runs: 0 all cores */
	int finished, prepared;
	/*
	 * Training mode (set by the graph-training driver, not built yet; 0 for inference). Operators
	 * whose forward differs in training read it: BatchNormalization
	 * normalises with the batch's statistics (mean, and variance divided
	 * by the count) and moves its running mean and variance initializers
	 * by its momentum (running = momentum * running + (1 - momentum) *
	 * batch, the variance unbiased, as torch does); Dropout zeroes each
	 * element with its ratio and scales the rest by 1 / (1 - ratio), its
	 * draws from cnnf_rng_derive(train_seed, train_step, node index,
	 * element chunk) so that they do not depend on the thread count and
	 * backward can draw them again.
	 */
	int training;
	uint64_t train_seed, train_step;
	/* Set by prepare: */
	uint64_t peak_bytes;  /* activation memory at its peak during a run */
	double work;          /* multiply-adds of one run */
};

/* ---- Building (loaders) ---- */

/* An empty graph whose messages name `file`. NULL (with a message) if out of memory. */
cnnf_graph *cnnf_graph_new(const char *file);
void cnnf_graph_free(cnnf_graph *g);

/* The index of the value called name, added (untyped) if new; -1 if out of memory. */
int cnnf_graph_value(cnnf_graph *g, const char *name);
/* The index of the value called name, or -1. */
int cnnf_graph_find(const cnnf_graph *g, const char *name);

/*
 * Make value v an initializer of the given type and shape, taking `data`
 * (malloc'd, elements as the shape says) whatever the outcome. Sizes are
 * checked against the limits.
 */
int cnnf_graph_set_init(cnnf_graph *g, int v, int type, int ndim, const int64_t *dim, void *data);

/*
 * Add a node. The attributes (nattr, malloc'd array) are taken whatever the
 * outcome. An op_type the table does not have is refused here:
 * "node 'NAME' (OpType): operator not supported".
 */
int cnnf_graph_add_node(cnnf_graph *g, const char *name, const char *op_type, int nin,
			const int *in, int nout, const int *out, int nattr, cnnf_attr *attr);

/*
 * Declare value v a graph input with its declared type and shape (ndim -1:
 * any rank; a dim -1: any size), or an output.
 */
int cnnf_graph_add_input(cnnf_graph *g, int v, int type, int ndim, const int64_t *dim);
int cnnf_graph_add_output(cnnf_graph *g, int v);

/* Parse the attributes, sort the nodes, find cycles, orphan inputs and last uses. */
int cnnf_graph_finish(cnnf_graph *g);

/* ---- Rewriting a finished graph, before it is prepared (nn/pass.c) ---- */

/*
 * Drop the nodes i with drop[i] set (their outputs must be read by no node
 * left, or rewired first) and work out the producers again. -1 once
 * prepared.
 */
int cnnf_graph_drop_nodes(cnnf_graph *g, const unsigned char *drop);

/*
 * Set n's attribute called name to the INTS values v[0..count-1], adding it
 * if absent; the node's parameters are then parsed again (a node whose
 * parse refuses the new values keeps its old ones and the call fails).
 */
int cnnf_node_set_ints(cnnf_graph *g, cnnf_node *n, const char *name, const int64_t *v,
		       size_t count);

/* ---- Running ---- */

/*
 * Infer every shape for inputs of these shapes (shape[i] has ndim[i]
 * dimensions), fold constants and check the limits. Refuses an input shape
 * that does not fit the declared one, naming both. `data` may be NULL; when
 * data[i] is not NULL, input i is a constant for this preparation (its
 * elements, of its declared type, are copied), so that what depends on it
 * only is folded: a shape given as a graph input, say.
 */
int cnnf_graph_prepare(cnnf_graph *g, const int *ndim, const int64_t (*shape)[CNNF_GRAPH_MAX_DIMS],
		       const void *const *data);

/*
 * Run a prepared graph: in[i] has the elements of input i (of its declared
 * type, in the prepared shape), borrowed; ignored for inputs made constant
 * by prepare. On success out[i] receives graph output i's data (owned by
 * the caller, malloc'd; its type and shape are in g->val[g->out[i]]).
 */
int cnnf_graph_run(cnnf_graph *g, const void *const *in, void **out);

/* The graph's input types as declared (CNNF_DT_F32 unless the file says int64). */
int cnnf_graph_input_type(const cnnf_graph *g, int i);

/* ---- For operators ---- */

/* "FILE: node 'NAME' (OpType): " followed by the message; returns -1. */
int cnnf_graph_node_error(const cnnf_graph *g, const cnnf_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The node's attribute called name, or NULL. */
const cnnf_attr *cnnf_node_attr(const cnnf_node *n, const char *name);
/*
 * Typed attribute readers: 0 and *out (the default when absent), or -1 with
 * a message when the attribute has another type. For ints/floats *out
 * points into the attribute (or is NULL with *count 0 when absent).
 */
int cnnf_node_attr_int(const cnnf_graph *g, const cnnf_node *n, const char *name, int64_t def,
		       int64_t *out);
int cnnf_node_attr_float(const cnnf_graph *g, const cnnf_node *n, const char *name, float def,
			 float *out);
/* A FLOAT attribute in double: its d where d rounds to its f, else f widened. */
int cnnf_node_attr_double(const cnnf_graph *g, const cnnf_node *n, const char *name, double def,
			  double *out);
int cnnf_node_attr_string(const cnnf_graph *g, const cnnf_node *n, const char *name,
			  const char *def, const char **out);
int cnnf_node_attr_ints(const cnnf_graph *g, const cnnf_node *n, const char *name,
			const int64_t **out, size_t *count);
int cnnf_node_attr_floats(const cnnf_graph *g, const cnnf_node *n, const char *name,
			  const float **out, size_t *count);

/* Input i of n (NULL when omitted or beyond nin), output i (NULL likewise). */
cnnf_value *cnnf_node_in(const cnnf_graph *g, const cnnf_node *n, int i);
cnnf_value *cnnf_node_out(const cnnf_graph *g, const cnnf_node *n, int i);

/*
 * Set v's type and shape, refusing (as node n's error) a negative
 * dimension, more than CNNF_GRAPH_MAX_DIMS, or more elements than the
 * limit. v may be NULL (an unwanted output): then nothing is done.
 */
int cnnf_graph_set_shape(const cnnf_graph *g, const cnnf_node *n, cnnf_value *v, int type,
			 int ndim, const int64_t *dim);

/* Elements of v (the product of its dims; 1 for a scalar). */
uint64_t cnnf_value_count(const cnnf_value *v);
/* Bytes of v's elements. */
uint64_t cnnf_value_bytes(const cnnf_value *v);
/* v's shape as "1x3x224x224" ("a scalar" for none, "?" for a free dim) in buf; returns buf. */
const char *cnnf_graph_shape_str(char *buf, size_t len, int ndim, const int64_t *dim);

/* Bytes per element of a type: 4 or 8. */
size_t cnnf_graph_type_size(int type);

/*
 * The elements of constant input v as int64 (int64 values as they are,
 * float ones only when each is a whole number): 0 and *out (malloc'd,
 * *count elements), or -1 with a message as node n's error.
 */
int cnnf_value_ints(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *v,
		    int64_t **out, size_t *count);

#endif
