"""The three networks of skyloom-tiny: a 3D VAE, a word-level text encoder and a DiT.

All shapes that vary at run time (batch, latent frames T, latent height h / width w, text length L)
are read from the input tensors inside forward(), never baked in as Python ints, so the traced
ONNX graphs accept every aspect ratio and clip length.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

LATENT_CHANNELS = 8
# latent.decoderPrime of an exported causal VAE: its decoder, given no history, draws a clip's first
# latent frame as a still; decoding it after a virtual frame (the first moved back along the clip's
# motion, priming_frame) gives it the motion (EVAL.md, "The first latent frame").
DECODER_PRIME = "translate"
PRIME_SHIFTS = [-1.5 + 0.25 * i for i in range(13)]  # latent cells searched on each axis
WIDTH = 128  # text encoder and DiT width
HEADS = 4


def setup_torch(seed):
    torch.set_num_threads(int(os.environ.get("SKYLOOM_THREADS", "2")))
    torch.manual_seed(seed)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


class Norm(nn.Module):
    """LayerNorm without learned affine, written with explicit unit weight / zero bias buffers:
    torch 1.13 exports LayerNorm(elementwise_affine=False) in a form onnx.checker rejects."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.register_buffer("one", torch.ones(dim), persistent=False)
        self.register_buffer("zero", torch.zeros(dim), persistent=False)

    def forward(self, x):
        return F.layer_norm(x, (self.dim,), self.one, self.zero, 1e-6)


# ----------------------------------------------------------------------------------------- VAE
class Res3d(nn.Module):
    """Residual block (3x3x3, or 1x3x3 at the costly high resolutions). GroupNorm is avoided (per-clip statistics would make the latent of a
    clip depend on how it is chunked); plain convs + SiLU are enough for this data."""

    def __init__(self, ch, k=(3, 3, 3)):
        super().__init__()
        pad = tuple(i // 2 for i in k)
        self.c1 = nn.Conv3d(ch, ch, k, padding=pad)
        self.c2 = nn.Conv3d(ch, ch, k, padding=pad)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


class Encoder(nn.Module):
    """[B,3,F,H,W] in [-1,1] -> raw latents [B,8,F/4,H/8,W/8].
    Down-sampling uses non-overlapping strided convs (kernel = stride), so the costly
    full-resolution layers touch each pixel once."""

    def __init__(self, ch=(24, 48, 96)):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(3, ch[0], (2, 2, 2), stride=(2, 2, 2)),   # F/2, H/2
            Res3d(ch[0], (1, 3, 3)),
            nn.Conv3d(ch[0], ch[1], (2, 2, 2), stride=(2, 2, 2)),  # F/4, H/4
            Res3d(ch[1]),
            nn.Conv3d(ch[1], ch[2], (1, 2, 2), stride=(1, 2, 2)),  # F/4, H/8
            Res3d(ch[2]), Res3d(ch[2]),
            nn.SiLU(),
            nn.Conv3d(ch[2], LATENT_CHANNELS, 1),
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """Raw latents [B,8,T,h,w] -> video [B,3,4T,8h,8w] in [-1,1] (tanh keeps the range)."""

    def __init__(self, ch=(96, 48, 24)):
        super().__init__()
        self.latent_ch = LATENT_CHANNELS
        self.net = nn.Sequential(
            nn.Conv3d(LATENT_CHANNELS, ch[0], 1),
            Res3d(ch[0]), Res3d(ch[0]),
            nn.SiLU(),
            nn.ConvTranspose3d(ch[0], ch[1], (1, 2, 2), stride=(1, 2, 2)),
            Res3d(ch[1]),
            nn.SiLU(),
            nn.ConvTranspose3d(ch[1], ch[2], (2, 2, 2), stride=(2, 2, 2)),
            Res3d(ch[2], (1, 3, 3)),
            nn.SiLU(),
            nn.ConvTranspose3d(ch[2], 8, (2, 2, 2), stride=(2, 2, 2)),
            nn.SiLU(),
            # One cheap full-resolution 1x3x3 conv smooths the seams of the non-overlapping
            # up-sampling (otherwise 2x2 block artefacts show on diagonal edges). It is kept this
            # narrow because its backward pass is the slowest op of the whole VAE on CPU.
            nn.Conv3d(8, 3, (1, 3, 3), padding=(0, 1, 1)),
        )

    def forward(self, z):
        return torch.tanh(self.net(z))


class VAE(nn.Module):
    """A deterministic autoencoder with a small latent L2 penalty (see train_vae.py); 'VAE' is the
    role name the package layout uses."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()


# ------------------------------------------------------------------- causal streaming VAE (2.0)
class CausalConv3d(nn.Module):
    """Conv3d that looks only at the current and earlier frames: the time axis is padded with
    kt - 1 zero frames in front (or, when streaming, with the kt - 1 frames cached from the
    previous call). Zero padding and zero caches are the same numbers, so decoding a clip latent
    frame by latent frame equals decoding it whole."""

    def __init__(self, cin, cout, k=(3, 3, 3)):
        super().__init__()
        self.kt = k[0]
        self.conv = nn.Conv3d(cin, cout, k, padding=(0, k[1] // 2, k[2] // 2))

    def forward(self, x, cache=None):
        if self.kt == 1:
            return self.conv(x), None
        x = torch.cat([cache, x], 2) if cache is not None else F.pad(x, (0, 0, 0, 0, self.kt - 1, 0))
        return self.conv(x), x[:, :, x.shape[2] - (self.kt - 1):]


class CausalRes(nn.Module):
    """Residual block of two causal convs (second zero-initialised, as in Res3d)."""

    def __init__(self, ch, k=(3, 3, 3)):
        super().__init__()
        self.c1 = CausalConv3d(ch, ch, k)
        self.c2 = CausalConv3d(ch, ch, k)
        nn.init.zeros_(self.c2.conv.weight)
        nn.init.zeros_(self.c2.conv.bias)

    def forward(self, x, caches=None):
        a, n1 = self.c1(F.silu(x), None if caches is None else caches[0])
        b, n2 = self.c2(F.silu(a), None if caches is None else caches[1])
        return x + b, [n1, n2]


class CausalEncoder(nn.Module):
    """[B,3,F,H,W] in [-1,1] -> raw latents [B,C,F/4,H/8,W/8]; latent t sees frames <= 4t+3 only,
    so encoding a clip's head gives the same latents as encoding the whole clip."""

    def __init__(self, ch=(32, 64, 128), latent_ch=LATENT_CHANNELS):
        super().__init__()
        # Non-overlapping strided downs group frames (0,1), (2,3), ... and then pairs of those,
        # so they keep causality at latent-frame granularity and cost a fraction of full-rate
        # layers (a full-frame-rate first block made encoding 6x the 1.x encoder's time).
        self.down1 = nn.Conv3d(3, ch[0], (2, 2, 2), stride=(2, 2, 2))          # F/2, H/2
        self.res1 = CausalRes(ch[0], (1, 3, 3))
        self.down2 = nn.Conv3d(ch[0], ch[1], (2, 2, 2), stride=(2, 2, 2))      # F/4, H/4
        self.res2 = CausalRes(ch[1], (3, 3, 3))
        self.down3 = nn.Conv3d(ch[1], ch[2], (1, 2, 2), stride=(1, 2, 2))      # F/4, H/8
        self.res3 = nn.ModuleList([CausalRes(ch[2]), CausalRes(ch[2])])
        self.out = nn.Conv3d(ch[2], latent_ch, 1)

    def forward(self, x):
        x = self.res1(self.down1(x))[0]
        x = self.res2(self.down2(F.silu(x)))[0]
        x = self.down3(F.silu(x))
        for r in self.res3:
            x = r(x)[0]
        return self.out(F.silu(x))


class CausalDecoder(nn.Module):
    """Raw latents [B,C,T,h,w] -> video [B,3,4T,8h,8w] in [-1,1], causal in time.

    Up-sampling is non-overlapping (kernel = stride), so each latent frame's own frames come from
    it alone; the causal 3-tap temporal convs at latent, 2x and 4x frame rate carry context across
    latent-frame boundaries, which is what keeps a boundary step no larger than the steps inside
    a latent frame. forward(z, caches) returns (video, new_caches): caches=None is the whole-clip
    (or first-latent) case, and feeding each call's new caches into the next decodes a clip latent
    frame by latent frame with the same result (the streaming contract, DESIGN.md)."""

    def __init__(self, ch=(128, 64, 32, 16), latent_ch=LATENT_CHANNELS, lookahead=False):
        super().__init__()
        self.latent_ch = latent_ch
        self.inp = nn.Conv3d(latent_ch, ch[0], 1)
        # lookahead: latent frame t also sees latent frame t + 1 (a one-latent-frame delay when
        # streaming), so the last frames of t can move towards where t + 1 draws the object. It
        # starts at zero, so a causal decoder fine-tuned with it starts where it was.
        self.lookahead = lookahead
        if lookahead:
            self.la = nn.Conv3d(latent_ch, ch[0], (1, 3, 3), padding=(0, 1, 1))
            nn.init.zeros_(self.la.weight)
            nn.init.zeros_(self.la.bias)
        self.res0 = nn.ModuleList([CausalRes(ch[0]), CausalRes(ch[0])])
        self.up1 = nn.ConvTranspose3d(ch[0], ch[1], (2, 2, 2), stride=(2, 2, 2))   # 2T, 2h
        self.res1 = CausalRes(ch[1])
        self.up2 = nn.ConvTranspose3d(ch[1], ch[2], (2, 2, 2), stride=(2, 2, 2))   # 4T, 4h
        self.res2 = CausalRes(ch[2])
        self.up3 = nn.ConvTranspose3d(ch[2], ch[3], (1, 2, 2), stride=(1, 2, 2))   # 4T, 8h
        # Full resolution stays narrow and spatial-only: its backward pass dominates on CPU.
        self.full = nn.Conv3d(ch[3], ch[3], (1, 3, 3), padding=(0, 1, 1))
        self.rgb = nn.Conv3d(ch[3], 3, (1, 3, 3), padding=(0, 1, 1))

    def blocks(self):
        return [*self.res0, self.res1, self.res2]

    def n_caches(self):
        return 2 * len(self.blocks())

    def forward(self, z, caches=None, z_next=None):
        """z_next (lookahead decoders): the latent frames after each of z's, by default z's own
        from the second on and its last again (the whole-clip decode: the clip's last latent frame
        looks ahead to itself)."""
        new = []

        def run(block, x):
            i = len(new)
            y, n = block(x, None if caches is None else caches[i:i + 2])
            new.extend(n)
            return y

        x = self.inp(z)
        if self.lookahead:
            if z_next is None:
                z_next = next_frames(z, 0, z.shape[2])
            x = x + self.la(z_next)
        for r in self.res0:
            x = run(r, x)
        x = run(self.res1, self.up1(F.silu(x)))
        x = run(self.res2, self.up2(F.silu(x)))
        x = F.silu(self.up3(F.silu(x)))
        x = self.rgb(F.silu(self.full(x)))
        return torch.tanh(x), new


def parse_channels(text):
    return tuple(int(c) for c in str(text).split(","))


class CausalVAE(nn.Module):
    """The 2.0 VAE: causal encoder + streaming decoder. decode(z) is the whole-clip decode."""

    def __init__(self, enc_ch=(32, 64, 128), dec_ch=(128, 64, 32, 16), latent_ch=LATENT_CHANNELS,
                 lookahead=False):
        super().__init__()
        self.encoder = CausalEncoder(enc_ch, latent_ch)
        self.decoder = CausalDecoder(dec_ch, latent_ch, lookahead)

    def decode(self, z):
        return self.decoder(z)[0]

    def decode_primed(self, z, per_clip=False):
        """decode(z) with the first latent frame decoded after priming_frame(z0, z1), as the runtime
        does for latent.decoderPrime "translate" (one shift for the batch; per_clip: one per clip,
        for training batches of unrelated clips); a one-latent-frame clip is decoded as is."""
        if z.shape[2] < 2:
            return self.decode(z)
        with torch.no_grad():
            clips = [z[i:i + 1] for i in range(z.shape[0])] if per_clip else [z]
            virtual = torch.cat([priming_frame(c[:, :, :1], c[:, :, 1:2]) for c in clips], 0)
        return self.decode(torch.cat([virtual, z], 2))[:, :, 4:]

    def decode_streaming(self, z):
        """Latent frame by latent frame through the caches (what the init/step graphs do)."""
        out, caches = [], None
        T = z.shape[2]
        for t in range(T):
            y, caches = self.decoder(z[:, :, t:t + 1], caches, next_frames(z, t, t + 1))
            out.append(y)
        return torch.cat(out, 2)


def next_frames(z, start, end):
    """The latent frames after z[:, :, start:end], the clip's last one looking ahead to itself:
    what a lookahead decoder takes beside them (the runtime's nextFrames in
    models/families/skyloom.ts)."""
    T = z.shape[2]
    return z[:, :, [min(t + 1, T - 1) for t in range(start, end)]]


def translate_latent(z, dy, dx):
    """Latent frame z [B,C,1,h,w] moved by (dy, dx) cells: bilinear, edges repeated (the runtime's
    translateLatent in models/families/skyloom.ts)."""
    h, w = z.shape[-2:]
    y = (torch.arange(h, dtype=torch.float32, device=z.device) - dy).clamp(0, h - 1)
    x = (torch.arange(w, dtype=torch.float32, device=z.device) - dx).clamp(0, w - 1)
    y0, x0 = y.floor().long(), x.floor().long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = z[..., y0, :][..., x0] * (1 - fx) + z[..., y0, :][..., x1] * fx
    bottom = z[..., y1, :][..., x0] * (1 - fx) + z[..., y1, :][..., x1] * fx
    return top * (1 - fy) + bottom * fy


def priming_frame(z0, z1):
    """z0 moved back by the shift (of PRIME_SHIFTS on each axis) that best maps it onto z1."""
    best, shift = None, (0.0, 0.0)
    for dy in PRIME_SHIFTS:
        for dx in PRIME_SHIFTS:
            e = ((translate_latent(z0, dy, dx) - z1) ** 2).sum().item()
            if best is None or e < best:
                best, shift = e, (dy, dx)
    return translate_latent(z0, -shift[0], -shift[1])


class LegacyVAE(nn.Module):
    """1.x's VAE (non-causal, whole-clip decoder) behind the same decode() interface."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def decode(self, z):
        return self.decoder(z)


def build_vae(arch="causal", enc_ch=(32, 64, 128), dec_ch=(128, 64, 32, 16),
              latent_ch=LATENT_CHANNELS, lookahead=False):
    if arch == "causal":
        return CausalVAE(enc_ch, dec_ch, latent_ch, lookahead)
    if arch == "legacy":
        if latent_ch != LATENT_CHANNELS or lookahead:
            raise ValueError(f"the legacy VAE has {LATENT_CHANNELS} latent channels and no lookahead")
        return LegacyVAE()
    raise ValueError(f"unknown VAE architecture {arch!r} (causal | legacy)")


# ------------------------------------------------------------------------ attention building blocks
def attention(q, k, v, bias=None):
    """q [B,H,N,d], k/v [B,H,M,d], bias broadcastable to [B,H,N,M] (0 keep / -1e4 drop).
    A finite -1e4 instead of -inf keeps fully masked rows finite."""
    a = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5)
    if bias is not None:
        a = a + bias
    return a.softmax(-1) @ v


class MHA(nn.Module):
    def __init__(self, dim, heads=HEADS, kv_dim=None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.o = nn.Linear(dim, dim)

    def split(self, x):
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, x, ctx, bias=None):
        k, v = self.kv(ctx).chunk(2, -1)
        y = attention(self.split(self.q(x)), self.split(k), self.split(v), bias)
        return self.o(y.transpose(1, 2).flatten(2))


def mask_bias(mask):
    """[B,M] 1/0 mask -> additive attention bias [B,1,1,M]."""
    return ((1.0 - mask.float()) * -1e4)[:, None, None, :]


def sincos(pos, dim, max_period=10000.0):
    """Sinusoidal embedding of float positions [...] -> [..., dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=pos.device) / half)
    ang = pos[..., None].float() * freqs
    return torch.cat([ang.sin(), ang.cos()], -1)


# ---------------------------------------------------------------------------------- text encoder
class TextEncoder(nn.Module):
    """Word embeddings + sinusoidal positions + 2 pre-norm transformer layers.
    input_ids/attention_mask int64 [B,L] -> last_hidden_state [B,L,128]."""

    def __init__(self, vocab_size, dim=WIDTH, layers=2):
        super().__init__()
        self.dim = dim
        self.embed = nn.Embedding(vocab_size, dim)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({
                "n1": nn.LayerNorm(dim), "attn": MHA(dim),
                "n2": nn.LayerNorm(dim),
                "mlp": nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)),
            }))
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, input_ids, attention_mask):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed(input_ids) + sincos(pos, self.dim)[None]
        bias = mask_bias(attention_mask)
        for l in self.layers:
            h = l["n1"](x)
            x = x + l["attn"](h, h, bias)
            x = x + l["mlp"](l["n2"](x))
        return self.out_norm(x)


# ------------------------------------------------------------------------------------------- DiT
def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """adaLN-Zero block: self-attention over spacetime tokens, cross-attention to text, MLP."""

    def __init__(self, dim, text_dim):
        super().__init__()
        self.n1, self.n2, self.n3 = Norm(dim), Norm(dim), Norm(dim)
        self.attn = MHA(dim)
        self.cross = MHA(dim, kv_dim=text_dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ada = nn.Linear(dim, 9 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, c, text, text_bias):
        s1, g1, b1, s2, g2, b2, s3, g3, b3 = self.ada(F.silu(c)).chunk(9, -1)
        h = modulate(self.n1(x), s1, g1)
        x = x + b1[:, None] * self.attn(h, h)
        x = x + b2[:, None] * self.cross(modulate(self.n2(x), s2, g2), text, text_bias)
        x = x + b3[:, None] * self.mlp(modulate(self.n3(x), s3, g3))
        return x


class DiT(nn.Module):
    """Velocity model v(x_t, t | text, known frames) over [B,C,T,h,w] latents.

    Input is the channel concat [x_t, cond_latents * cond_mask, cond_mask] (2C+1 channels),
    patched 1xPxP into tokens (P = `patch`: 2 up to 2.1, 1 from 2.2, one token per latent cell)
    with 3D sinusoidal positions computed from the input's own shape.
    A learned null token is always present in the cross-attention keys and in the text pooling,
    so an all-zero text mask (the unconditional branch of guidance) still gives finite outputs."""

    def __init__(self, dim=WIDTH, depth=6, text_dim=WIDTH, channels=LATENT_CHANNELS, patch=2):
        super().__init__()
        self.dim, self.channels, self.patch_size = dim, channels, patch
        self.patch = nn.Conv3d(2 * channels + 1, dim, (1, patch, patch), stride=(1, patch, patch))
        self.t_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.randn(1, 1, text_dim) * 0.02)
        self.pool_proj = nn.Sequential(nn.Linear(text_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(DiTBlock(dim, text_dim) for _ in range(depth))
        self.out_norm = Norm(dim)
        self.out_ada = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, patch * patch * channels)
        for m in (self.out_ada, self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def pos_embed(self, T, h, w, device=None):
        """[T*h*w, dim] sinusoidal positions: dims split 1/4, 3/8, 3/8 over (t, y, x). Spatial
        positions count 2x2 latent cells (16 pixels) whatever the patch size, so a patch-1 DiT
        made from a patch-2 one (train_dit.repatch) keeps what its positions mean."""
        dt, ds = self.dim // 4, 3 * self.dim // 8
        ys, xs = torch.arange(h, device=device), torch.arange(w, device=device)
        if self.patch_size != 2:
            ys, xs = ys * (self.patch_size / 2), xs * (self.patch_size / 2)
        t = sincos(torch.arange(T, device=device), dt)[:, None, None, :].expand(T, h, w, dt)
        y = sincos(ys, ds)[None, :, None, :].expand(T, h, w, ds)
        x = sincos(xs, ds)[None, None, :, :].expand(T, h, w, ds)
        return torch.cat([t, y, x], -1).reshape(T * h * w, self.dim)

    def forward(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask,
                cond_latents, cond_mask):
        B, C, T, H, W = hidden_states.shape
        x = torch.cat([hidden_states, cond_latents * cond_mask, cond_mask], 1)
        x = self.patch(x)  # [B, D, T, H/P, W/P]
        h, w = x.shape[3], x.shape[4]
        x = x.flatten(2).transpose(1, 2) + self.pos_embed(T, h, w, x.device)[None]

        # Text: prepend the null token (always attended, always pooled).
        null = self.null.expand(B, 1, self.null.shape[-1])
        text = torch.cat([null, encoder_hidden_states], 1)
        m = torch.cat([torch.ones_like(encoder_attention_mask[:, :1]), encoder_attention_mask], 1)
        m = m.float()
        pooled = (text * m[..., None]).sum(1) / m.sum(1, keepdim=True)
        c = self.t_mlp(sincos(timestep, self.dim)) + self.pool_proj(pooled)

        bias = mask_bias(m)
        for blk in self.blocks:
            x = blk(x, c, text, bias)
        shift, scale = self.out_ada(F.silu(c)).chunk(2, -1)
        x = self.out(modulate(self.out_norm(x), shift, scale))  # [B, N, P*P*C]
        # Unpatchify: token (t, i, j) holds a PxP block of C channels ordered (C, P, P).
        p = self.patch_size
        x = x.reshape(B, T, h, w, C, p, p).permute(0, 4, 1, 2, 5, 3, 6)
        return x.reshape(B, C, T, H, W)


def networks_from_config(cfg, vocab_size):
    """(TextEncoder, DiT) as a train_dit.py checkpoint's config describes them; the keys it lacks
    take train_dit.py's defaults (a 1.x or 2.0 checkpoint's config holds only its channels)."""
    width = cfg.get("width", WIDTH)
    return (TextEncoder(vocab_size, dim=width, layers=cfg.get("te_layers", 2)),
            DiT(dim=width, depth=cfg.get("depth", 6), text_dim=width,
                channels=cfg.get("channels", LATENT_CHANNELS), patch=cfg.get("patch", 2)))
