/* clip_tokenizer.h — the CLIP byte-level BPE tokenizer, as Stable Diffusion 1.x feeds its text encoder.
 *
 * Loaded from a tokenizer folder (vocab.json + merges.txt, optional special_tokens_map.json /
 * tokenizer_config.json for the pad token). Text is cleaned the way CLIPTokenizer does it (ftfy:
 * &amp; &lt; &gt; &quot; &apos; &nbsp; when the text has no '<', curly quotes straightened,
 * Latin ligatures split, full-width forms narrowed, terminal colour codes and control characters
 * dropped; then white space runs collapsed to one space, trimmed, lowercased), split by CLIP's
 * pre-tokenizer pattern
 * (<|startoftext|>, <|endoftext|>, 's 't 're 've 'm 'll 'd, letter runs, single digits, runs of
 * other non-space characters), each piece mapped byte -> printable unicode (GPT-2's byte table),
 * the last symbol gets the "</w>" suffix and BPE merges are applied by merge rank. Ids come from
 * the vocab, including BOS "<|startoftext|>" and EOS "<|endoftext|>" (49406/49407 in SD's vocab).
 *
 * An SD prompt becomes 77 ids: BOS, up to 75 tokens (more are truncated), EOS, then padding with
 * the pad token (EOS for SD 1.x tokenizers unless the folder's config names another).
 *
 * The A1111 emphasis syntax gives per-token weights: "(word)" x1.1, "((word))" x1.21,
 * "[word]" /1.1, "(word:1.3)" x1.3, "\(" and "\)" are literal parentheses, unbalanced brackets
 * close at the end. BOS, EOS and padding get weight 1. As in A1111 each span is tokenized on its
 * own. (A1111 then scales the text embedding by these weights and restores its original mean;
 * that is the text encoder's job, not this file's.)
 *
 * Checked against OpenAI CLIP's simple_tokenizer with the real 49408-token SD vocab: 0 mismatches
 * on 3072 prompts (Latin, accents, Hangul, kana, emoji, random long words; reproduce with
 * tools/make_sd_fixtures.py --real-vocab-check DIR, then OMA_CLIP_CHECK_DIR=DIR ctest
 * -R models.test_tokenizer). Not done, on purpose: ftfy's mojibake repair, NFC normalisation
 * and the rest of the HTML5 entity table; OpenAI CLIP's extra double html.unescape (we follow
 * transformers' CLIPTokenizer, which SD pipelines use); A1111's "BREAK" and multi-chunk prompts
 * beyond 75 tokens (the rest is truncated).
 */
#ifndef OMA_MODELS_CLIP_TOKENIZER_H
#define OMA_MODELS_CLIP_TOKENIZER_H

#include <stddef.h>

#define OMA_CLIP_CONTEXT 77

typedef struct oma_clip_tokenizer oma_clip_tokenizer;

/* Loads dir/vocab.json and dir/merges.txt (+ optional configs). 0 on success, -1 with err. */
int oma_clip_tokenizer_load(const char *dir, oma_clip_tokenizer **out, char *err, size_t errlen);
/* Same from explicit file paths; pad_token may be NULL (defaults to the EOS token). */
int oma_clip_tokenizer_load_files(const char *vocab_json, const char *merges_txt,
                                  const char *pad_token, oma_clip_tokenizer **out, char *err,
                                  size_t errlen);
void oma_clip_tokenizer_free(oma_clip_tokenizer *tok);

int oma_clip_bos(const oma_clip_tokenizer *tok);
int oma_clip_eos(const oma_clip_tokenizer *tok);
int oma_clip_pad(const oma_clip_tokenizer *tok);
size_t oma_clip_vocab_size(const oma_clip_tokenizer *tok);
/* Id of an exact vocab entry ("cat</w>"), -1 if absent. */
int oma_clip_token_id(const oma_clip_tokenizer *tok, const char *token);

/* Added tokens (textual-inversion names, A1111 embeddings by file name, "<s1>"): before BPE
 * the text is split at each added name (matched case-insensitively; a name that starts or ends
 * with a letter/digit only as a whole word), which becomes n_ids consecutive new ids after the
 * vocab (multi-vector embeddings, as A1111 expands them). Returns the first id, or -1 with err
 * (empty/duplicate name). drop_added(keep) removes the ones added after the first keep. */
int oma_clip_add_token(oma_clip_tokenizer *tok, const char *text, int n_ids, char *err, size_t errlen);
size_t oma_clip_added_count(const oma_clip_tokenizer *tok);
void oma_clip_drop_added(oma_clip_tokenizer *tok, size_t keep);
/* Vocab size plus every added id (the text encoder's table must have this many rows). */
size_t oma_clip_total_ids(const oma_clip_tokenizer *tok);
/* Plain BPE of text, no BOS/EOS: *ids malloc'ed (may be NULL when *n == 0). Characters whose
 * bytes have no vocab entry are skipped, as CLIP's tokenizer does with unknown pieces. */
int oma_clip_tokenize(const oma_clip_tokenizer *tok, const char *text, int **ids, size_t *n,
                      char *err, size_t errlen);

typedef struct oma_clip_tokens {
    int ids[OMA_CLIP_CONTEXT];
    float weights[OMA_CLIP_CONTEXT];
    int length;        /* tokens before padding, BOS and EOS included (2..77) */
    int truncated;     /* 1 when the prompt had more than 75 tokens */
} oma_clip_tokens;

/* 77 ids for a prompt taken literally (all weights 1). */
int oma_clip_encode(const oma_clip_tokenizer *tok, const char *text, oma_clip_tokens *out,
                    char *err, size_t errlen);
/* 77 ids + weights for a prompt in A1111 emphasis syntax. */
int oma_clip_encode_weighted(const oma_clip_tokenizer *tok, const char *prompt,
                             oma_clip_tokens *out, char *err, size_t errlen);

/* The emphasis parser on its own: the prompt as text spans with weights (adjacent spans of equal
 * weight merged, as A1111's parse_prompt_attention does). An empty prompt gives one span ("", 1). */
typedef struct oma_prompt_span {
    char *text;
    float weight;
} oma_prompt_span;
int oma_prompt_parse_emphasis(const char *prompt, oma_prompt_span **spans, size_t *n, char *err,
                              size_t errlen);
void oma_prompt_spans_free(oma_prompt_span *spans, size_t n);

#endif
