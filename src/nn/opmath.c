/* opmath.c: broadcasting, stride collapsing and axes for the arithmetic operators. */
#include <inttypes.h>

#include "nn/opmath.h"

int cnnf_opmath_broadcast(const cnnf_graph *g, const cnnf_node *n, int na, const int64_t *a, int nb,
                          const int64_t *b, int *nout, int64_t *out)
{
	int no = na > nb ? na : nb;
	int64_t r[CNNF_GRAPH_MAX_DIMS];
	for (int i = 0; i < no; i++) {
		int ia = i - (no - na), ib = i - (no - nb);
		int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
		if (da == db || db == 1)
			r[i] = da;
		else if (da == 1)
			r[i] = db;
		else {
			char sa[160], sb[160];
			return cnnf_graph_node_error(g, n, "shapes %s and %s do not broadcast",
			                             cnnf_graph_shape_str(sa, sizeof sa, na, a),
			                             cnnf_graph_shape_str(sb, sizeof sb, nb, b));
		}
	}
	for (int i = 0; i < no; i++)
		out[i] = r[i];
	*nout = no;
	return 0;
}

void cnnf_opmath_bstrides(int nd, const int64_t *d, int no, const int64_t *od, int64_t *st)
{
	int64_t s = 1;
	for (int i = no - 1; i >= 0; i--) {
		int k = i - (no - nd);
		if (k < 0 || (d[k] == 1 && od[i] != 1)) {
			st[i] = 0;
		} else {
			st[i] = d[k] == 1 ? 0 : s;
			s *= d[k];
		}
	}
}

int cnnf_opmath_collapse(int nd, int64_t *od, int k, int64_t (*st)[CNNF_GRAPH_MAX_DIMS])
{
	if (nd == 0) {
		od[0] = 1;
		for (int j = 0; j < k; j++)
			st[j][0] = 0;
		return 1;
	}
	int m = 0; /* dims kept so far: 0..m */
	for (int i = 1; i < nd; i++) {
		int ok = 1;
		for (int j = 0; j < k && ok; j++)
			ok = st[j][m] == st[j][i] * od[i];
		if (ok) {
			od[m] *= od[i];
			for (int j = 0; j < k; j++)
				st[j][m] = st[j][i];
		} else {
			m++;
			od[m] = od[i];
			for (int j = 0; j < k; j++)
				st[j][m] = st[j][i];
		}
	}
	return m + 1;
}

int cnnf_opmath_axis(const cnnf_graph *g, const cnnf_node *n, const char *what, int64_t axis,
                     int rank, int *out)
{
	if (axis < -rank || axis >= rank || (rank == 0 && axis != 0))
		return cnnf_graph_node_error(
		    g, n, "attribute '%s' value %" PRId64 " out of range for rank %d", what, axis,
		    rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return 0;
}

double cnnf_opmath_work_out(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}
