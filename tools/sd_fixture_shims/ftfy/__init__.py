# Stand-in for ftfy (not in Debian) used by OpenAI CLIP's simple_tokenizer in
# tools/make_sd_fixtures.py. fix_text is the identity: the fixture prompts are clean text, where
# ftfy changes nothing. (Real ftfy also straightens curly quotes and fixes mojibake; oma does not.)
def fix_text(text, **kwargs):
    return text
