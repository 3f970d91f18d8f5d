/* Unit tests: the strict JSON checker and the minifier (lib/json.c). */
#include "lib_all.h"
#include "tap.h"

static void
test_json(void)
{
	static const char *const bad[] = { "", " ", "{", "{\"a\":1} x",
	    "{\"a\":1}{}", "tru", "{'a':1}", "[1,]", "{\"a\":01}", "NaN", "Infinity", "-", "1.", ".5", "1e", "\"\\x\"",
	    "\"a\tb\"", "{\"a\" 1}", "{1:2}", "[1 2]", "\"\\u12g4\"", "{\"a\":1,}" };
	struct json_object *o;

	o = (struct json_object *)0x1;
	ok(gpush__json_parse("{\"a\":[1,2]} \n", 13, &o) == GPUSH_OK && o != NULL,
	    "json: object with trailing white space");
	json_object_put(o);
	ok(gpush__json_parse("42", 2, &o) == GPUSH_OK &&
	    json_object_is_type(o, json_type_int), "json: bare number");
	json_object_put(o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = (struct json_object *)0x1;
		ok(gpush__json_parse(bad[i], strlen(bad[i]), &o) == GPUSH_ERR_BODY &&
		    o == NULL, "json: rejects '%s' and clears *out", bad[i]);
	}
	{
		char deep[2 * 70 + 1];
		memset(deep, '[', 70);
		memset(deep + 70, ']', 70);
		deep[140] = '\0';
		ok(!gpush__json_valid(deep, 140), "json: nesting of 70 refused");
		ok(gpush__json_valid(deep + 10, 120), "json: nesting of 60 taken");
	}
	ok(gpush__json_valid("-0.5e+10", 8), "json: number forms");
	ok(gpush__json_valid("{ \"a\" : [ 1 , { } ] , \"b\" :null }", 33),
	    "json: white space everywhere");
	ok(gpush__json_valid("\"\\u00e9\\n\\/\"", 12), "json: escapes");
	o = (struct json_object *)0x1;
	ok(gpush__json_parse("\"a\0b\"", 5, &o) == GPUSH_ERR_BODY && o == NULL,
	    "json: rejects a raw NUL");
}

int
main(void)
{
	test_json();
	return tap_done();
}
