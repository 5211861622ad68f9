/* ops.c: the operator table built from CNNF_OP_LIST (ops.h). */
#include <string.h>

#include "nn/ops.h"

#define CNNF_OP_ROW(name, sym) &cnnf_op_##sym,
static const cnnf_op *const table[] = {CNNF_OP_LIST(CNNF_OP_ROW) NULL};
#undef CNNF_OP_ROW

int cnnf_ops_count(void)
{
	return (int)(sizeof table / sizeof table[0]) - 1;
}

const cnnf_op *cnnf_ops_at(int i)
{
	return i >= 0 && i < cnnf_ops_count() ? table[i] : NULL;
}

const cnnf_op *cnnf_ops_find(const char *op_type)
{
	for (int i = 0; i < cnnf_ops_count(); i++)
		if (table[i] && strcmp(table[i]->name, op_type) == 0)
			return table[i];
	return NULL;
}
