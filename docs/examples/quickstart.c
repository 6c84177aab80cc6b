/* The C quick start of docs/bindings.md: open a model, stream its Hugging Face tensors, convert it to a
 * Megatron checkpoint at TP=2 and back, and check that nothing changed. Compiled and run by
 * scripts/test-bindings.sh. usage: quickstart HF_DIR OUT_DIR */
#include <mbridge.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, const char *message) {
  fprintf(stderr, "%s: %s\n", what, message);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) return fail("usage", "quickstart HF_DIR OUT_DIR");
  char megatron[4096], back[4096];
  snprintf(megatron, sizeof megatron, "%s/megatron", argv[2]);
  snprintf(back, sizeof back, "%s/hf", argv[2]);

  /* Streaming: one converted tensor at a time; the view lives until the next call on the iterator. */
  mb_bridge *bridge = NULL;
  if (mb_bridge_open(&bridge, argv[1], NULL) != MB_OK) return fail("open", mb_last_error());
  mb_export *it = NULL;
  if (mb_export_begin(&it, bridge, MB_TARGET_HF) != MB_OK) return fail("export", mb_bridge_errmsg(bridge));
  mb_tensor_view v;
  mb_status st;
  int count = 0;
  while ((st = mb_export_next(it, &v)) == MB_OK) ++count;
  if (st != MB_DONE) return fail("export", mb_export_errmsg(it));
  mb_export_free(it); /* the iterator before its bridge */
  mb_bridge_free(bridge);
  printf("%d tensors streamed\n", count);

  /* One-call conversions: no handle, so the message is the thread's. */
  mb_convert_options o = mb_convert_default_options();
  o.tp = 2;
  if (mb_import_ckpt(argv[1], megatron, &o) != MB_OK) return fail("import", mb_last_error());
  if (mb_export_ckpt(megatron, back, &o) != MB_OK) return fail("export_ckpt", mb_last_error());
  int equal = 0;
  if (mb_verify(argv[1], back, &equal, NULL) != MB_OK) return fail("verify", mb_last_error());
  printf("round trip through %s: %s\n", megatron, equal ? "equal" : "DIFFERENT");

  /* An error: the status says what kind, the message says where and why. */
  st = mb_bridge_open(&bridge, "/nonexistent/model", NULL);
  if (st != MB_ERR_NOT_FOUND || strstr(mb_last_error(), "/nonexistent/model") == NULL)
    return fail("expected MB_ERR_NOT_FOUND", mb_last_error());
  return equal ? 0 : 1;
}
