"""Tiny, randomly initialised speech models built locally, for tests that need the real ASR code paths.

`build_tiny_whisper` makes a CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json,
preprocessor_config.json) that faster-whisper and whisperx load like a released checkpoint;
`build_tiny_aligner` makes a Hugging Face wav2vec2 CTC folder that `whisperx.load_align_model` accepts.
Nothing is downloaded: the tokenizer is built with the `tokenizers` library, the weights are random.

The vocabulary has the layout of the released multilingual tokenizer, with fewer text tokens: text tokens,
then <|endoftext|>, <|startoftranscript|>, 100 language tokens in Whisper's order, <|translate|>,
<|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|> and the 1501 timestamp
tokens. CTranslate2 counts the languages from these positions, and the installed CTranslate2 treats a Whisper
model as multilingual (language detection allowed) only when its vocabulary holds an empty-string token
(`vocabulary.to_id("") != unk_id`; older releases required 51865 tokens), so the last text token here is "".

The text tokens are lowercase "words" with a leading space (" ab", " kqz"), so whatever the random decoder
emits decodes to space-separated words that the character-level aligner can align.
The decoder is not left fully random: its last layer norm is set so that the logits follow the position
embedding, which makes every decode emit `WORDS_PER_SEGMENT` words and then <|endoftext|>. A random decoder
would run to the 448-token limit, giving more characters than a few seconds of audio has CTC frames.
"""

from __future__ import annotations

import itertools
import json
import os
import string
from pathlib import Path

import numpy as np

#: Whisper's language tokens in the order of the released tokenizer (ids 50259... there; eot + 2... here).
WHISPER_LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt "
    "la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af "
    "oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue"
).split()

N_TEXT_TOKENS = 4096  # ids below <|endoftext|> (50257 in the released tokenizer; fewer keeps the model small)
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>
#: the tiny decoder emits this many words per 30 s window, then <|endoftext|>
WORDS_PER_SEGMENT = 4

_ALIGN_CHARS = list(string.ascii_lowercase) + ["'"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet); space maps to 'Ġ' (id 220)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _special_tokens() -> list[str]:
    return (
        ["<|endoftext|>", "<|startoftranscript|>"]
        + [f"<|{code}|>" for code in WHISPER_LANGUAGES]
        + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
        + [f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)]
    )


def _build_tokenizer():
    """Byte-level BPE over 256 byte symbols, word-like tokens and "", plus Whisper's special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    alphabet = list(_bytes_to_unicode().values())  # ids 0..255, 'Ġ' at 220 as in Whisper
    space = alphabet[220]
    letters = string.ascii_lowercase
    fillers: list[str] = []
    for length in itertools.count(1):  # " a", " b", ..., " zz", ..., " abcd": short lowercase words
        fillers.extend(space + "".join(p) for p in itertools.product(letters, repeat=length))
        if len(alphabet) + len(fillers) >= N_TEXT_TOKENS - 1:
            break
    fillers = fillers[: N_TEXT_TOKENS - 1 - len(alphabet)]
    # the last text token is "": CTranslate2's multilingual marker (see the module docstring)
    vocab = {tok: i for i, tok in enumerate(alphabet + fillers + [""])}
    # One merge per filler (its prefix + its last letter), so decoded text encodes back to the same tokens;
    # any other text still encodes, one token per byte.
    merges = [(w[:-1], w[-1]) for w in fillers]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _special_tokens()])
    assert tok.get_vocab_size() == N_TEXT_TOKENS + len(_special_tokens())
    return tok


def _steer_decoder(model, tokenizer, vocab_size: int, seed: int) -> None:
    """Make the decoder emit WORDS_PER_SEGMENT word tokens and then <|endoftext|>, whatever the audio.

    The decoder layers' output projections are zeroed, so the residual stream is the token embedding plus the
    position embedding. The position embeddings are large unit codes in the first half of the model dimension;
    the token embeddings (tied with the output projection) are small there and zero elsewhere, and the final
    layer norm keeps only that half. So the logits at position p are about code(p) . E[token]: step k of the
    text points at one chosen word token, every later position at <|endoftext|>, and position 0 at <|en|>
    (language detection). The encoder and the cross-attention weights stay random and live, so the word timing
    (cross-attention DTW) still runs over real attention.
    """
    import torch

    half = model.config.d_model // 2
    rng = np.random.default_rng(seed)
    dec = model.model.decoder
    n_pos = dec.embed_positions.weight.shape[0]
    sot_len = 4  # <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>; the first word is read at 3
    first_end = sot_len - 1 + WORDS_PER_SEGMENT

    codes = rng.standard_normal((first_end + 1, half))
    codes -= codes.mean(axis=1, keepdims=True)
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    word_ids = rng.choice(np.arange(300, N_TEXT_TOKENS - 1), size=WORDS_PER_SEGMENT, replace=False)
    targets = {0: tokenizer.token_to_id("<|en|>"), first_end: tokenizer.token_to_id("<|endoftext|>")}
    targets.update({sot_len - 1 + k: int(w) for k, w in enumerate(word_ids)})

    pos = np.zeros((n_pos, model.config.d_model))
    pos[:, :half] = 10.0 * codes[np.minimum(np.arange(n_pos), first_end)]  # all late positions share the end code
    emb = np.zeros((vocab_size, model.config.d_model))
    emb[:, :half] = 0.01 * rng.standard_normal((vocab_size, half))
    for p, token in targets.items():
        emb[token, :half] = 2.0 * codes[p]
    with torch.no_grad():
        for layer in dec.layers:
            for proj in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                proj.weight.zero_()
                proj.bias.zero_()
        dec.embed_positions.weight.copy_(torch.from_numpy(pos))
        dec.embed_tokens.weight.copy_(torch.from_numpy(emb))  # tied with proj_out
        dec.layer_norm.weight.zero_()
        dec.layer_norm.weight[:half] = 1.0
        dec.layer_norm.bias.zero_()


def build_tiny_whisper(folder: str | os.PathLike[str], seed: int = 0) -> str:
    """Write a tiny CTranslate2 Whisper model into `folder` (created); return the folder's path."""
    import ctranslate2.converters
    import torch
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    out = Path(folder)
    hf_dir = out.parent / f".{out.name}.hf"
    hf_dir.mkdir(parents=True, exist_ok=True)

    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert sorted(WHISPER_LANGUAGES) == sorted(_LANGUAGE_CODES)  # the languages faster-whisper accepts
    tok = _build_tokenizer()
    vocab_size = tok.get_vocab_size()
    tid = tok.token_to_id
    eot, sot = tid("<|endoftext|>"), tid("<|startoftranscript|>")
    no_ts = tid("<|notimestamps|>")
    assert tid("<|0.00|>") == no_ts + 1 and tid("") == eot - 1

    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=2,
        decoder_layers=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,  # 3000 mel frames (30 s) after the stride-2 convolution
        max_target_positions=448,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    _steer_decoder(model, tok, vocab_size, seed)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[220, eot],
        no_timestamps_token_id=no_ts,
        is_multilingual=True,
        lang_to_id={f"<|{c}|>": tid(f"<|{c}|>") for c in WHISPER_LANGUAGES},
        task_to_id={"transcribe": tid("<|transcribe|>"), "translate": tid("<|translate|>")},
        # word timestamps: both heads of the last decoder layer
        alignment_heads=[[1, 0], [1, 1]],
    )
    model.save_pretrained(hf_dir, safe_serialization=True)
    tok.save(str(hf_dir / "tokenizer.json"))
    PreTrainedTokenizerFast(
        tokenizer_file=str(hf_dir / "tokenizer.json"), eos_token="<|endoftext|>", bos_token="<|endoftext|>"
    ).save_pretrained(hf_dir)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(hf_dir)

    converter = ctranslate2.converters.TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
    )
    converter.convert(str(out), force=True)
    return str(out)


def build_tiny_aligner(folder: str | os.PathLike[str], seed: int = 0) -> str:
    """Write a tiny random wav2vec2 CTC model with a character processor into `folder`; return its path."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    vocab.update({c: i + 5 for i, c in enumerate(_ALIGN_CHARS)})
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(
        str(out / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|", do_lower_case=True
    )
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)

    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,  # the standard 7-layer front end: 320-sample stride, 50 frames a second
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="group",
        do_stable_layer_norm=False,
        pad_token_id=0,
        ctc_loss_reduction="mean",
    )
    torch.manual_seed(seed)
    Wav2Vec2ForCTC(config).eval().save_pretrained(out, safe_serialization=True)
    return str(out)
