/*
** test/unit/runtime/policy.c: the policy engine without Lua.
**
** Policies are written as YAML (read by the registry's own reader, so the
** values have the types and positions a loaded entry has), compiled, and
** evaluated against hand-built actors and meta: pattern matching, every
** condition operator on both sides of its answer, the original's corners
** (null fields, errors making a policy undefined, exists with false),
** evaluation order of a set (deny wins, allow, undefined), and the load
** errors with the node they point at.
*/
#include "runtime/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/reg_int.h"
#include "runtime/yaml.h"
#include "tap.h"
#include "yamltext.h"

static char tmpdir[] = "/tmp/policy-test-XXXXXX";
static struct reg_arena arena;

/* The errors of the last compile, "line:col: msg | " each. */
static char errs[4096];

static void on_err(void *ud, const struct reg_value *at, const char *msg)
{
	size_t n = strlen(errs);

	(void)ud;
	snprintf(errs + n, sizeof(errs) - n, "%d:%d: %s | ", at ? at->line : 0,
		 at ? at->col : 0, msg);
}

/* Read text (a YAML mapping) into a tree. */
static struct reg_value *yaml(const char *text)
{
	return yamltext(tmpdir, &arena, text);
}

/* Compile the `policy:` (and `groups:`) of text as entry app:p. */
static struct policy *compile(const char *text)
{
	struct reg_value *v = yaml(text);

	errs[0] = '\0';
	return policy_compile("app:p", "app", reg_value_get(v, "policy"),
			      reg_value_get(v, "groups"), on_err, NULL);
}

/* A value tree from YAML text's `v:` (owned by the arena, not to be
** cleared: reg trees are converted by the engine itself, so for meta we
** build policy_val by hand below). */

static struct policy_val str(const char *s)
{
	struct policy_val v = { .type = PV_STR, .str = s, .len = strlen(s) };
	return v;
}

static struct policy_val num(double d)
{
	struct policy_val v = { .type = PV_NUM, .num = d };
	return v;
}

static struct policy_val boolean(bool b)
{
	struct policy_val v = { .type = PV_BOOL, .b = b };
	return v;
}

/* The actor meta: {role = "admin", level = 5, tags = {"a", "b"},
** org = {name = "acme", tier = {level = 2}}, active = true, code = "42"} */
static struct policy_val tags_items[2], tier_items[1], org_items[2], meta_items[6];
static const char *tier_keys[] = { "level" };
static const char *org_keys[] = { "name", "tier" };
static const char *meta_keys[] = { "role", "level", "tags", "org", "active", "code" };
static struct policy_val actor_meta, call_meta, call_items[2];
static const char *call_keys[] = { "owner", "size" };

static void build_values(void)
{
	tags_items[0] = str("a");
	tags_items[1] = str("b");
	tier_items[0] = num(2);
	org_items[0] = str("acme");
	org_items[1] = (struct policy_val){ .type = PV_MAP, .n = 1, .items = tier_items,
					    .keys = tier_keys };
	meta_items[0] = str("admin");
	meta_items[1] = num(5);
	meta_items[2] = (struct policy_val){ .type = PV_ARR, .n = 2, .items = tags_items };
	meta_items[3] = (struct policy_val){ .type = PV_MAP, .n = 2, .items = org_items,
					     .keys = org_keys };
	meta_items[4] = boolean(true);
	meta_items[5] = str("42");
	actor_meta = (struct policy_val){ .type = PV_MAP, .n = 6, .items = meta_items,
					  .keys = meta_keys };
	call_items[0] = str("user:42");
	call_items[1] = num(100);
	call_meta = (struct policy_val){ .type = PV_MAP, .n = 2, .items = call_items,
					 .keys = call_keys };
}

static struct policy_actor actor = { "user:42", &actor_meta };

/* Evaluate one condition, as an allow policy on everything. */
static enum policy_result cond(const char *field, const char *op, const char *value)
{
	char text[1024];
	struct policy *p;
	enum policy_result r;

	snprintf(text, sizeof(text),
		 "policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		 "  conditions:\n    - field: %s\n      operator: %s\n      value: %s\n",
		 field, op, value);
	p = compile(text);
	if (p == NULL) {
		fprintf(stderr, "compile failed: %s", errs);
		return (enum policy_result)-1;
	}
	r = policy_eval(p, &actor, "doc.read", "doc:1", &call_meta);
	policy_free(p);
	return r;
}

#define HOLDS(f, o, v)  ok(cond(f, o, v) == POLICY_ALLOW, "%s %s %s holds", f, o, v)
#define FAILS(f, o, v)  ok(cond(f, o, v) == POLICY_UNDEFINED, "%s %s %s does not hold", f, o, v)

static void test_patterns(void)
{
	ok(policy_match("*", "anything"), "* matches all");
	ok(policy_match("process.send", "process.send"), "exact");
	ok(!policy_match("process.send", "process.spawn"), "exact only");
	ok(policy_match("process.*", "process.spawn"), "prefix.*");
	ok(policy_match("process.*", "process."), "prefix.* on the bare prefix");
	ok(!policy_match("process.*", "registry.get"), "prefix.* other prefix");
	ok(policy_match("{app:system|*", "{app:system|0x00012}"), "pid prefix");
	ok(!policy_match("{app:system|*", "{app:users|0x00012}"), "pid other host");
	ok(!policy_match("", "x"), "empty pattern matches nothing but empty");
	ok(policy_match("a*", "a"), "prefix* with empty rest");
}

static void test_actions_resources(void)
{
	struct policy *p = compile("policy:\n  actions: [process.send, 'env.*']\n"
				   "  resources: ['{app:system|*', 'KEY']\n  effect: deny\n");
	ok(p != NULL, "list actions and resources compile");
	ok(policy_eval(p, NULL, "process.send", "{app:system|0x1}", NULL) == POLICY_DENY,
	   "action and resource match: effect");
	ok(policy_eval(p, NULL, "env.get", "KEY", NULL) == POLICY_DENY, "second of each");
	ok(policy_eval(p, NULL, "process.spawn", "KEY", NULL) == POLICY_UNDEFINED,
	   "action not matched: undefined");
	ok(policy_eval(p, NULL, "env.get", "OTHER", NULL) == POLICY_UNDEFINED,
	   "resource not matched: undefined");
	ok(strcmp(policy_id(p), "app:p") == 0, "id");
	policy_free(p);
}

static void test_operators(void)
{
	/* eq / ne */
	HOLDS("actor.id", "eq", "user:42");
	FAILS("actor.id", "eq", "user:7");
	HOLDS("actor.meta.role", "eq", "admin");
	HOLDS("actor.meta.level", "eq", "5");
	HOLDS("actor.meta.level", "eq", "'5'");       /* numeric string */
	HOLDS("actor.meta.code", "eq", "42");         /* "42" eq 42 */
	HOLDS("actor.meta.active", "eq", "true");
	HOLDS("actor.meta.active", "eq", "'true'");   /* as text */
	HOLDS("actor.meta.org.tier.level", "eq", "2"); /* nested */
	HOLDS("actor.meta.org.name", "ne", "other");
	FAILS("actor.meta.org.name", "ne", "acme");
	FAILS("actor.meta.missing", "ne", "x");        /* null: false */
	HOLDS("meta.owner", "eq", "user:42");
	HOLDS("owner", "eq", "user:42");               /* bare key of meta */
	HOLDS("action", "eq", "doc.read");
	HOLDS("resource", "eq", "doc:1");
	FAILS("resource", "eq", "doc:2");
	/* lt gt lte gte */
	HOLDS("actor.meta.level", "lt", "6");
	FAILS("actor.meta.level", "lt", "5");
	HOLDS("actor.meta.level", "gt", "4");
	FAILS("actor.meta.level", "gt", "5");
	HOLDS("actor.meta.level", "lte", "5");
	FAILS("actor.meta.level", "lte", "4.5");
	HOLDS("actor.meta.level", "gte", "5");
	FAILS("actor.meta.level", "gte", "5.5");
	HOLDS("meta.size", "gte", "'100'");
	FAILS("actor.meta.role", "lt", "5");           /* not a number: error */
	/* in / nin */
	HOLDS("actor.meta.role", "in", "[user, admin]");
	FAILS("actor.meta.role", "in", "[user, guest]");
	HOLDS("actor.meta.level", "in", "[1, 5]");
	HOLDS("actor.meta.role", "in", "admin");       /* a string: equality */
	HOLDS("actor.meta.role", "nin", "[user, guest]");
	FAILS("actor.meta.role", "nin", "[admin]");
	FAILS("actor.meta.role", "nin", "5");          /* not a list: error */
	FAILS("actor.meta.missing", "nin", "[x]");     /* null: false */
	/* exists / nexists */
	HOLDS("actor.meta.role", "exists", "true");
	FAILS("actor.meta.missing", "exists", "true");
	HOLDS("actor.meta.missing", "exists", "false");
	FAILS("actor.meta.role", "exists", "false");
	HOLDS("actor.meta.missing", "nexists", "true");
	FAILS("actor.meta.role", "nexists", "true");
	HOLDS("actor.meta.role", "nexists", "false");
	HOLDS("meta.owner", "exists", "true");
	/* contains / ncontains */
	HOLDS("actor.id", "contains", "':4'");
	FAILS("actor.id", "contains", "admin");
	HOLDS("actor.meta.tags", "contains", "b");
	FAILS("actor.meta.tags", "contains", "c");
	HOLDS("actor.meta.tags", "ncontains", "c");
	FAILS("actor.meta.tags", "ncontains", "a");
	HOLDS("actor.id", "ncontains", "admin");
	FAILS("actor.meta.org", "contains", "acme");   /* a map: error */
	FAILS("actor.meta.org", "ncontains", "x");     /* error, not true */
	/* matches / nmatches */
	HOLDS("actor.id", "matches", "'^user:[0-9]+$'");
	FAILS("actor.id", "matches", "'^admin:'");
	HOLDS("resource", "matches", "'doc'");         /* unanchored */
	HOLDS("actor.id", "nmatches", "'^admin:'");
	FAILS("actor.id", "nmatches", "'^user:'");
	HOLDS("actor.meta.level", "matches", "'^5$'"); /* a number as text */
	FAILS("actor.meta.tags", "matches", "a");      /* a list: error */
}

static void test_actor_paths(void)
{
	struct policy *p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
				   "  conditions:\n    - {field: actor.id, operator: exists, value: true}\n");
	struct policy_actor none = { "", NULL };

	ok(policy_eval(p, &actor, "a", "r", NULL) == POLICY_ALLOW, "actor.id with an actor");
	ok(policy_eval(p, NULL, "a", "r", NULL) == POLICY_UNDEFINED, "actor.* with no actor");
	ok(policy_eval(p, &none, "a", "r", NULL) == POLICY_UNDEFINED,
	   "actor.* with an empty actor");
	policy_free(p);
	FAILS("actor", "exists", "false");            /* bad path: error */
	FAILS("actor.name", "exists", "false");
	FAILS("meta", "exists", "false");
}

static void test_value_from(void)
{
	struct policy *p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
				   "  conditions:\n    - {field: meta.owner, operator: eq, value_from: actor.id}\n");
	struct policy_actor other = { "user:7", NULL };

	ok(p != NULL, "value_from compiles");
	ok(policy_eval(p, &actor, "a", "r", &call_meta) == POLICY_ALLOW, "owner is the actor");
	ok(policy_eval(p, &other, "a", "r", &call_meta) == POLICY_UNDEFINED, "owner is not");
	policy_free(p);
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		    "  conditions:\n    - {field: actor.id, operator: matches, value_from: meta.owner}\n");
	ok(p && policy_eval(p, &actor, "a", "r", &call_meta) == POLICY_UNDEFINED,
	   "matches with value_from has no compiled pattern: undefined");
	policy_free(p);
}

static void test_all_conditions(void)
{
	struct policy *p = compile(
		"policy:\n  actions: '*'\n  resources: '*'\n  effect: deny\n"
		"  conditions:\n"
		"    - {field: actor.meta.role, operator: eq, value: admin}\n"
		"    - {field: meta.size, operator: gt, value: 500}\n");

	ok(policy_eval(p, &actor, "a", "r", &call_meta) == POLICY_UNDEFINED,
	   "one condition of two fails: undefined");
	call_items[1] = num(1000);
	ok(policy_eval(p, &actor, "a", "r", &call_meta) == POLICY_DENY, "both hold: effect");
	call_items[1] = num(100);
	policy_free(p);
}

static void test_sets(void)
{
	struct policy *allow = compile("policy: {actions: '*', resources: '*', effect: allow}\n");
	struct policy *deny = compile("policy: {actions: process.send, resources: '{app:system|*', "
				      "effect: deny}\n");
	struct policy *other = compile("policy: {actions: env.get, resources: '*', effect: allow}\n");
	const struct policy *s1[] = { allow, deny };
	const struct policy *s2[] = { deny, allow };
	const struct policy *s3[] = { other };
	const struct policy *s4[] = { NULL, other };

	ok(policy_eval_set(s1, 2, &actor, "process.send", "{app:system|0x1}", NULL) == POLICY_DENY,
	   "deny wins over an earlier allow");
	ok(policy_eval_set(s2, 2, &actor, "process.send", "{app:system|0x1}", NULL) == POLICY_DENY,
	   "deny wins over a later allow");
	ok(policy_eval_set(s1, 2, &actor, "process.send", "{app:users|0x1}", NULL) == POLICY_ALLOW,
	   "deny not matched: allow");
	ok(policy_eval_set(s3, 1, &actor, "process.send", "x", NULL) == POLICY_UNDEFINED,
	   "nothing matches: undefined");
	ok(policy_eval_set(NULL, 0, &actor, "process.send", "x", NULL) == POLICY_UNDEFINED,
	   "empty set: undefined");
	ok(policy_eval_set(s4, 2, &actor, "env.get", "X", NULL) == POLICY_ALLOW,
	   "NULL entries skipped");
	/* The acted form trusts the caller on actions and still matches
	** resources and effects as the full one. */
	ok(policy_eval_set_acted(s1, 2, &actor, "process.send", "{app:system|0x1}", NULL) ==
	   POLICY_DENY, "acted: deny wins");
	ok(policy_eval_set_acted(s1, 2, &actor, "process.send", "{app:users|0x1}", NULL) ==
	   POLICY_ALLOW, "acted: deny's resource not matched: allow");
	ok(policy_eval_set_acted(s3, 1, &actor, "process.send", "x", NULL) == POLICY_ALLOW,
	   "acted: the action is not matched again");
	ok(strcmp(policy_result_name(POLICY_DENY), "deny") == 0 &&
	   strcmp(policy_result_name(POLICY_ALLOW), "allow") == 0 &&
	   strcmp(policy_result_name(POLICY_UNDEFINED), "undefined") == 0, "result names");
	policy_free(allow);
	policy_free(deny);
	policy_free(other);
}

static void test_groups(void)
{
	struct policy *p = compile("policy: {actions: '*', resources: '*', effect: allow}\n"
				   "groups: [admins, 'other:readers']\n");
	size_t n;
	const char *const *g = policy_groups(p, &n);

	ok(n == 2 && strcmp(g[0], "app:admins") == 0 && strcmp(g[1], "other:readers") == 0,
	   "groups take the entry's namespace");
	policy_free(p);
}

static void test_errors(void)
{
	struct policy *p;

	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: permit\n");
	ok(p == NULL && strstr(errs, "4:11: policy.effect: must be \"allow\" or \"deny\", "
			       "got \"permit\""), "bad effect at its position: %s", errs);
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n");
	ok(p == NULL && strstr(errs, "policy.effect"), "missing effect");
	p = compile("policy:\n  actions: ''\n  resources: '*'\n  effect: allow\n");
	ok(p == NULL && strstr(errs, "2:13: policy.actions: must not be an empty string"),
	   "empty actions: %s", errs);
	p = compile("policy:\n  actions: []\n  resources: '*'\n  effect: allow\n");
	ok(p == NULL && strstr(errs, "policy.actions: must not be an empty list"), "empty list");
	p = compile("policy:\n  actions: '*'\n  effect: allow\n");
	ok(p == NULL && strstr(errs, "policy.resources: must be a string or a list of strings "
			       "(missing)"), "missing resources: %s", errs);
	p = compile("policy:\n  actions: '*'\n  resources: 5\n  effect: allow\n");
	ok(p == NULL && strstr(errs, "3:14: policy.resources"), "resources a number: %s", errs);
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		    "  conditions:\n    - {field: actor.id, operator: like, value: x}\n");
	ok(p == NULL && strstr(errs, "6:35: policy.conditions[0]: unknown operator \"like\""),
	   "bad operator at its position: %s", errs);
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		    "  conditions:\n    - {operator: eq, value: x}\n");
	ok(p == NULL && strstr(errs, "policy.conditions[0]: field is required"), "no field");
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		    "  conditions:\n    - {field: actor.id, operator: exists}\n");
	ok(p == NULL && strstr(errs, "value or value_from is required"), "no value");
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		    "  conditions:\n    - {field: actor.id, operator: matches, value: '(['}\n");
	ok(p == NULL && strstr(errs, "invalid pattern \"([\""), "bad regex: %s", errs);
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: allow\n"
		    "  conditions: {field: x}\n");
	ok(p == NULL && strstr(errs, "policy.conditions: must be a list"), "conditions a map");
	p = compile("policy: [1]\n");
	ok(p == NULL && strstr(errs, "policy: must be a mapping"), "policy not a map");
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: deny\n  conditions: []\n"
		    "groups: [1]\n");
	ok(p == NULL && strstr(errs, "groups: a group id must be a non-empty string"),
	   "bad group: %s", errs);
	p = compile("policy:\n  actions: '*'\n  resources: '*'\n  effect: wrong\n"
		    "  conditions:\n    - {field: a, operator: bad, value: 1}\n");
	ok(p == NULL && strstr(errs, "effect") && strstr(errs, "bad"),
	   "every problem is reported");
}

/* Evaluate expression src as an allow policy on everything: 1 allow,
** 0 undefined, -1 compile error (message in errs). */
static int expr(const char *src, const char *resource)
{
	char text[1024];
	struct reg_value *v;
	struct policy *p;
	enum policy_result r;

	snprintf(text, sizeof(text), "policy:\n  actions: '*'\n  resources: '*'\n"
		 "  effect: allow\n  expression: '%s'\n", src);
	v = yaml(text);
	errs[0] = '\0';
	p = policy_compile_expr("app:e", "app", reg_value_get(v, "policy"), NULL, on_err, NULL);
	if (p == NULL)
		return -1;
	r = policy_eval(p, &actor, "doc.read", resource, &call_meta);
	policy_free(p);
	return r == POLICY_ALLOW;
}

#define ETRUE(s)  ok(expr(s, "doc:1") == 1, "expr %s is true", s)
#define EFALSE(s) ok(expr(s, "doc:1") == 0, "expr %s is not", s)
#define EBAD(s, m) ok(expr(s, "doc:1") == -1 && strstr(errs, m), "expr %s: %s", s, errs)

static void test_expr(void)
{
	ETRUE("action == \"doc.read\"");
	ETRUE("resource == \"doc:1\" && action != \"x\"");
	EFALSE("resource == \"doc:2\"");
	ETRUE("actor.id == \"user:42\"");
	ETRUE("actor.meta.role == \"admin\" || action == \"nope\"");
	ETRUE("actor.meta.level >= 5 and actor.meta.level < 6");
	EFALSE("actor.meta.level > 5");
	ETRUE("actor.meta.org.tier.level == 2");
	ETRUE("meta.size == 100");
	ETRUE("owner == \"user:42\"");
	EFALSE("actor.meta.code == 42");             /* "42" is text, not a number */
	ETRUE("actor.meta.role in [\"user\", \"admin\"]");
	ETRUE("actor.meta.role not in [\"user\"]");
	ETRUE("\"b\" in actor.meta.tags");
	ETRUE("\"name\" in actor.meta.org");         /* keys of a map */
	ETRUE("resource matches \"^doc:[0-9]+$\"");
	EFALSE("resource matches \"^file:\"");
	ETRUE("resource startsWith \"doc\" && resource endsWith \":1\"");
	ETRUE("actor.id contains \":4\"");
	ETRUE("!(action == \"x\")");
	ETRUE("not (action == \"x\") and true");
	ETRUE("meta.missing == nil");
	EFALSE("meta.missing == \"x\"");
	EFALSE("meta.missing > 1");                  /* type error: undefined */
	EFALSE("action");                            /* not a boolean */
	EFALSE("actor.meta.role && true");           /* && on text */
	ETRUE("(action == \"a\" || action == \"doc.read\") && (resource == \"doc:1\")");
	ETRUE("actor.meta.active == true");
	ETRUE("false || actor.meta.active");
	EBAD("action ==", "unexpected end of expression at offset");
	EBAD("len(action) > 1", "function calls");
	EBAD("meta.size + 1 > 2", "arithmetic");
	EBAD("(action == \"a\"", "expected )");
	EBAD("resource matches \"([\"", "invalid pattern");
	EBAD("action == \"x\" extra", "unexpected text after the expression");
	EBAD("\"open", "unterminated string");
	{
		char deep[700];
		size_t i;

		for (i = 0; i < 300; i++)
			deep[i] = '(';
		strcpy(deep + i, "true");
		ok(expr(deep, "doc:1") == -1 && strstr(errs, "nested too deeply"),
		   "deep nesting is refused: %s", errs);
	}
}

static void test_val_clear(void)
{
	struct policy_val *v = calloc(1, sizeof(*v));

	v->type = PV_MAP;
	v->n = 1;
	v->items = calloc(1, sizeof(*v->items));
	v->keys = calloc(1, sizeof(char *));
	v->keys[0] = strdup("k");
	v->items[0].type = PV_STR;
	v->items[0].str = strdup("x");
	ok(policy_val_get(v, "k") && policy_val_get(v, "k")->type == PV_STR, "get");
	ok(policy_val_get(v, "nope") == NULL, "get missing");
	policy_val_clear(v);
	ok(v->type == PV_NULL && v->n == 0, "cleared");
	policy_val_clear(NULL);
	free(v);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	build_values();
	test_patterns();
	test_actions_resources();
	test_operators();
	test_actor_paths();
	test_value_from();
	test_all_conditions();
	test_sets();
	test_groups();
	test_errors();
	test_expr();
	test_val_clear();
	reg__arena_free(&arena);
	yamltext_cleanup(tmpdir);
	return tap_done();
}
