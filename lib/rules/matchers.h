/* Private to lib/rules: the matcher catalogue. */
#ifndef WH_RULES_MATCHERS_H
#define WH_RULES_MATCHERS_H

#include "lib/rules/rules_internal.h"

/* Resolves a matcher name (any accepted casing) for proto and syntax; -1 with *err (at pos) when
 * unknown, in the other syntax only, or for the other protocol. */
int wh_rules_lookup(const char *name, size_t len, wh_rule_proto proto, wh_rule_syntax syntax,
                    size_t pos, const wh_rules_mdef **out, wh_rule_error *err);
/* Checks the argument count and validates/compiles each argument of a leaf whose def, args
 * (raw set) and nargs are filled. argpos[i] is the source offset of argument i. */
int wh_rules_compile_leaf(wh_rules_node *n, const size_t *argpos, wh_rule_proto proto,
                          wh_rule_syntax syntax, wh_rule_error *err);
void wh_rules_arg_free(wh_rules_arg *a);

#endif
