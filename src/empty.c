/* empty.c — keeps a library target valid while its room has no sources yet. */
typedef int oma_empty_translation_unit;
