/* obt_json.h — just enough JSON reading for our own outputs (obtctl --json,
 * ocf-devsim --dump): string fields found by key after a given position */
#ifndef OBT_JSON_H
#define OBT_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Copies the string value of the first "key":"..." at or after from into out.
 * Returns a pointer just past the value, or NULL if not found. */
const char *obt_json_str(const char *from, const char *key, char *out, size_t cap);

/* Splits a JSON array printed one object per line into objects: returns the number
 * found and sets objs[i] to malloc'd copies (caller frees). */
size_t obt_json_objects(const char *text, char **objs, size_t max);

#endif
