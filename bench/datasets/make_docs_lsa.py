#!/usr/bin/env python3
"""Build `docs100k`: a second real-text ANN dataset, laid out like `shared/data/dev`.

Corpus: English prose from Debian `*-doc` packages (none of the dev set's Python packages), fetched with
`apt-get download` and unpacked with `dpkg-deb -x` (nothing is installed).  HTML, Perl pod, troff man pages and
Markdown are turned into plain paragraphs, cut into passages of 1-3 sentences / 20-120 words, filtered for prose,
deduplicated, balanced over packages (a common per-package cap), and a seeded shuffle picks 1,000 held-out queries
and 100,000 base passages (the base is then put back in corpus order, as in dev).

Embeddings: LSA, since no neural model's weights can be fetched here: TF-IDF (sublinear tf, word unigrams +
bigrams, min_df 2) fitted on the base passages only, TruncatedSVD (randomized) to 384 dimensions, each row
L2-normalised (so inner product = cosine).  Queries go through the same fitted vectoriser and SVD.  Passages that
differ only in words rare in the base get identical vectors; such a base row is swapped for an unpicked passage of
its package and the models are fitted again, until no two base vectors are equal (to 1e-4).

Ground truth: exact top-100 by inner product (float32), ties broken by the lower row index.

One command from a fresh Debian machine (root, apt + PyPI reachable):

    python3 bench/datasets/make_docs_lsa.py --out /tmp/vireo-data/docs100k

It creates the venv (--venv, default /tmp/venv-dataset) with pinned numpy / scipy / scikit-learn when they are
not importable, and re-runs itself inside it.
"""

import argparse
import gzip
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser

PINNED = ["numpy==2.4.6", "scipy==1.17.1", "scikit-learn==1.9.1"]

# (package, text format, include regex on the path below the package root, exclude regex or None)
# Order = corpus order.  Paths are matched against e.g. "usr/share/doc/postgresql-doc-15/html/sql-select.html".
PACKAGES = [
    ("postgresql-doc-15", "html", r"\.html$", None),
    ("sqlite3-doc", "html", r"\.html$", None),
    ("git-doc", "html", r"\.html$", None),
    ("apache2-doc", "html", r"\.html(\.en)?$", None),
    ("libvirt-doc", "html", r"\.html$", None),
    ("bind9-doc", "html", r"\.html$", None),
    ("postfix-doc", "html", r"\.html$", None),
    ("docker-doc", "md", r"\.md(\.gz)?$", None),
    ("rust-doc", "html", r"\.html$", r"/html/src/|/(core_)?arch/"),
    ("openjdk-17-doc", "html", r"\.html$",
     r"/class-use/|/index-files/|(allclasses|allpackages|overview-tree|package-tree|deprecated-list|"
     r"help-doc|serialized-form|constant-values|index-all|search)[^/]*\.html$"),
    ("nodejs-doc", "html", r"/api/[^/]*\.html$", r"/api/all\.html$"),
    ("erlang-doc", "html", r"\.html$", None),
    ("perl-doc", "pod", r"\.pod$", None),
    ("tcl8.6-doc", "man", r"/man/man[1-9n]/[^/]*\.gz$", None),
    ("r-doc-html", "html", r"\.html$", None),
    ("octave-doc", "html", r"\.html$", None),
    ("gnuplot-doc", "html", r"\.html$", None),
    ("cmake-doc", "html", r"\.html$", r"/(genindex|search)\.html$"),
    ("clang-14-doc", "html", r"\.html$", r"/(genindex|search)\.html$"),
    ("llvm-14-doc", "html", r"\.html$", r"/(genindex|search)\.html$|/doxygen/"),
    ("autoconf-doc", "html", r"\.html$", None),
    ("libtool-doc", "html", r"/libtool-doc/libtool\.html$", None),
    ("bash-doc", "html", r"/bash\.html$|/bashref\.html$", None),
    ("zsh-doc", "html", r"\.html$", None),
    ("debian-reference-en", "html", r"\.en\.html$", None),
    ("debian-handbook", "html", r"/en-US/.*\.html$", None),
    ("developers-reference", "html", r"\.html$", r"/(search|index)\.html$"),
    ("maint-guide", "html", r"\.en\.html$", None),
]

N_REQUIRED_MIN = 60_000


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- bootstrap ---

def ensure_venv(args):
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(args.venv, "bin", "python")
    if os.path.exists(py) and os.path.realpath(sys.prefix) == os.path.realpath(args.venv):
        sys.exit("numpy/scipy/scikit-learn missing inside the venv " + args.venv)
    if not os.path.exists(py):
        log("creating venv", args.venv)
        if subprocess.run([sys.executable, "-m", "venv", args.venv]).returncode != 0:
            log("python3 -m venv failed: installing Debian's python3-venv")
            subprocess.run(["rm", "-rf", args.venv], check=True)
            subprocess.check_call(["apt-get", "install", "-y", "-q", "python3-venv"])
            subprocess.check_call([sys.executable, "-m", "venv", args.venv])
    log("pip install", *PINNED)
    subprocess.check_call([py, "-m", "pip", "install", "-q", *PINNED])
    os.execv(py, [py, os.path.abspath(__file__), *sys.argv[1:]])


# ------------------------------------------------------------------------------------------- fetch/unpack ---

def fetch_packages(work, names):
    debs_dir = os.path.join(work, "debs")
    os.makedirs(debs_dir, exist_ok=True)

    def have(name):
        return [f for f in os.listdir(debs_dir) if f.startswith(name + "_") and f.endswith(".deb")]

    missing = [n for n in names if not have(n)]
    if missing:
        log("apt-get download", len(missing), "packages")
        r = subprocess.run(["apt-get", "download", *missing], cwd=debs_dir)
        if r.returncode != 0:
            log("apt-get download failed; running apt-get update once and retrying")
            subprocess.check_call(["apt-get", "update"])
            subprocess.check_call(["apt-get", "download", *[n for n in names if not have(n)]], cwd=debs_dir)
    versions, roots = {}, {}
    for n in names:
        debs = sorted(have(n))
        deb = os.path.join(debs_dir, debs[-1])
        versions[n] = subprocess.check_output(["dpkg-deb", "-f", deb, "Version"], text=True).strip()
        root = os.path.join(work, "x", n)
        stamp = os.path.join(root, ".unpacked-" + versions[n].replace(":", "_"))
        if not os.path.exists(stamp):
            subprocess.run(["rm", "-rf", root], check=True)
            os.makedirs(root)
            subprocess.check_call(["dpkg-deb", "-x", deb, root])
            open(stamp, "w").close()
        roots[n] = root
    return versions, roots


# ------------------------------------------------------------------------------------------ text extractors ---

BLOCK_TAGS = {
    "p", "div", "li", "dd", "dt", "td", "th", "tr", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "section", "article", "main", "aside", "br", "hr", "body", "html", "caption", "figcaption",
    "figure", "form", "details", "summary", "center", "address", "fieldset", "legend", "menu", "dir", "tbody",
    "thead", "tfoot", "img", "iframe", "object", "frame", "frameset",
}
SKIP_TAGS = {"script", "style", "pre", "title", "nav", "footer", "noscript", "svg", "math", "textarea", "select",
             "button", "head", "listing", "xmp", "template"}


class _Paragraphs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.buf, self.skip = [], [], 0

    def flush(self):
        if self.buf:
            t = " ".join("".join(self.buf).split())
            if t:
                self.out.append(t)
            self.buf = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self.flush()
            self.skip += 1
        elif tag in BLOCK_TAGS:
            self.flush()

    def handle_startendtag(self, tag, attrs):
        if tag in BLOCK_TAGS:
            self.flush()

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS:
            if self.skip:
                self.skip -= 1
            self.flush()
        elif tag in BLOCK_TAGS:
            self.flush()

    def handle_data(self, data):
        if not self.skip:
            self.buf.append(data)


def decode(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def html_paragraphs(raw):
    p = _Paragraphs()
    p.feed(decode(raw))
    p.close()
    p.flush()
    return p.out


_POD_CODE = re.compile(r"([A-Z])<<+\s+(.*?)\s+>>+", re.S)
_POD_SIMPLE = re.compile(r"([A-Z])<([^<>]*)>")
_POD_ESC = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/", "quot": '"', "amp": "&", "apos": "'"}


def _pod_code(m):
    code, body = m.group(1), m.group(2)
    if code in "XZ":
        return ""
    if code == "E":
        if body in _POD_ESC:
            return _POD_ESC[body]
        return html.unescape("&" + body + ";") if not body.isdigit() else chr(int(body))
    if code == "L":
        if "|" in body:
            return body.split("|", 1)[0]
        body = body.replace('"', "")
        if "/" in body and "://" not in body:
            page, sec = body.split("/", 1)
            return sec if not page else (sec + " in " + page if sec else page)
        return body
    return body


def pod_inline(t):
    t = _POD_CODE.sub(_pod_code, t)
    for _ in range(6):
        n = _POD_SIMPLE.sub(_pod_code, t)
        if n == t:
            break
        t = n
    return t


def pod_paragraphs(raw):
    out, in_pod, skip_block = [], True, False
    for para in re.split(r"\n\s*\n", decode(raw)):
        if not para.strip():
            continue
        if para.startswith("="):
            cmd = para.split(None, 1)[0]
            if cmd == "=cut":
                in_pod = False
            else:
                in_pod = True
                if cmd == "=begin":
                    skip_block = True
                elif cmd == "=end":
                    skip_block = False
            continue  # headings, =item labels, =over/=back, =for: not prose
        if not in_pod or skip_block or para[0] in " \t":
            continue  # code, or a verbatim (indented) paragraph
        t = " ".join(pod_inline(para).split())
        if t:
            out.append(t)
    return out


_TROFF_BREAK = {"PP", "LP", "P", "SH", "SS", "TP", "IP", "HP", "sp", "br", "RS", "RE", "TH", "AP", "BS", "BE",
                "OP", "SO", "SE", "MT", "UL", "ti", "in", "bp", "ne", "ta", "TS", "TE"}
_TROFF_SKIP_START = {"CS": "CE", "nf": "fi", "DS": "DE", "TS": "TE", "de": ".."}
_TROFF_FONTS = {"B", "I", "BR", "RB", "BI", "IB", "IR", "RI", "SM", "SB", "CW"}
_TROFF_CHARS = {"em": "—", "en": "–", "aq": "'", "dq": '"', "lq": "“", "rq": "”", "oq": "‘", "cq": "’",
                "co": "©", "mu": "×", "bu": "•", "hy": "-", "ga": "`", "ti": "~", "ha": "^", "rs": "\\", "->": "→",
                "<-": "←", "<=": "≤", ">=": "≥", "!=": "≠", "+-": "±", "de": "°"}


def troff_inline(t):
    t = re.sub(r"\\\((..)", lambda m: _TROFF_CHARS.get(m.group(1), ""), t)
    t = re.sub(r"\\\[([^\]]*)\]", lambda m: _TROFF_CHARS.get(m.group(1), ""), t)
    t = re.sub(r"\\[fF](\(..|\[[^\]]*\]|.)", "", t)
    t = re.sub(r"\\s[-+]?\d", "", t)
    t = re.sub(r"\\\*(\(..|\[[^\]]*\]|.)", "", t)
    t = re.sub(r"\\[kwhvlLxbDoNYZ]'[^']*'", "", t)
    t = t.replace("\\-", "-").replace("\\e", "\x00").replace("\\&", "").replace("\\|", "").replace("\\^", "")
    t = t.replace("\\ ", " ").replace("\\0", " ").replace("\\c", "").replace("\\%", "").replace("\\:", "")
    t = re.sub(r"\\.", "", t)
    return t.replace("\x00", "\\")


def man_paragraphs(raw):
    text = decode(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    out, buf, end_skip = [], [], None

    def flush():
        if buf:
            t = " ".join(" ".join(buf).split())
            if t:
                out.append(t)
            buf.clear()

    for line in text.split("\n"):
        if end_skip is not None:
            if line.startswith(("." + end_skip, "'" + end_skip)) or (end_skip == ".." and line.strip() == ".."):
                end_skip = None
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            mac = parts[0]
            if mac.startswith('\\"'):
                continue
            if mac in _TROFF_SKIP_START:
                flush()
                end_skip = _TROFF_SKIP_START[mac]
            elif mac in _TROFF_BREAK:
                flush()
            elif mac in ("QW", "PQ", "QR") and len(parts) > 1:   # Tcl's quoting macros, inline
                a = [x.strip('"') for x in re.findall(r'"[^"]*"|\S+', troff_inline(parts[1]))]
                if not a:
                    continue
                if mac == "QW":
                    buf.append("“" + a[0] + "”" + "".join(a[1:]))
                elif mac == "PQ":
                    buf.append("(“" + a[0] + "”" + "".join(a[1:2]) + ")" + "".join(a[2:]))
                else:
                    buf.append("“" + a[0] + "”–“" + (a[1] if len(a) > 1 else "") + "”" + "".join(a[2:]))
            elif mac in _TROFF_FONTS and len(parts) > 1:
                args = re.findall(r'"[^"]*"|\S+', troff_inline(parts[1]))
                buf.append("".join(a.strip('"') for a in args) if mac not in ("B", "I", "SM", "SB") else
                           " ".join(a.strip('"') for a in args))
            continue
        if not line.strip():
            flush()
            continue
        buf.append(troff_inline(line))
    flush()
    return out


def md_paragraphs(raw):
    text = decode(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)            # front matter
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "\n", text, flags=re.S | re.M)  # fenced code
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    out = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln for ln in para.split("\n") if ln.strip()]
        if not lines:
            continue
        if lines[0].startswith(("    ", "\t", "#", "|", "<", "{%", "{{", ">", "[", "!")):
            continue
        t = " ".join(ln.strip() for ln in lines)
        t = re.sub(r"^([-*+]|\d+\.)\s+", "", t)
        t = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", t)
        t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)
        t = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", t)
        t = re.sub(r"<[^>]+>", "", t)
        t = re.sub(r"(\*\*|__)(.+?)\1", r"\2", t)
        t = re.sub(r"(?<!\w)[*_](\S.*?)[*_](?!\w)", r"\1", t)
        t = t.replace("`", "")
        t = " ".join(html.unescape(t).split())
        if t:
            out.append(t)
    return out


EXTRACTORS = {"html": html_paragraphs, "pod": pod_paragraphs, "man": man_paragraphs, "md": md_paragraphs}

# ------------------------------------------------------------------------------------------------ passages ---

_SENT_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[`]?[A-Z0-9])")
_ABBREV = {"e.g", "i.e", "etc", "vs", "cf", "fig", "no", "mr", "dr", "approx", "al", "resp", "eq", "sec", "ch",
           "vol", "p", "pp", "st", "inc", "ltd", "jr", "sr", "viz", "ca", "v", "ver", "ref", "see", "op", "esp"}
_STOP = {"the", "a", "an", "is", "are", "to", "of", "and", "in", "for", "that", "this", "with", "be", "it", "by",
         "on", "as", "or", "if", "can", "not", "you", "we", "from", "will", "which", "when", "used", "use", "has",
         "have", "its", "at", "was", "there", "these", "any", "all", "but", "only", "may", "should", "must", "into"}
_SYMBOLS = set("{}[]<>=;|\\$#@*~^_")
_WORD = re.compile(r"[A-Za-z]+")


def sentences(par):
    out, start = [], 0
    for m in _SENT_END.finditer(par):
        head = par[start:m.start()]
        last = head.rsplit(None, 1)[-1] if head.strip() else ""
        last_l = last.lower().lstrip("([\"'")
        if last_l in _ABBREV or (len(last) == 1 and last.isupper()) or re.fullmatch(r"(\w\.)+\w", last_l):
            continue
        out.append(par[start:m.end()].strip())
        start = m.end()
    tail = par[start:].strip()
    if tail:
        out.append(tail)
    return out


def is_prose(t):
    words = t.split()
    n = len(words)
    if not (20 <= n <= 120):
        return False
    if not re.search(r"[.!?][\"'”’)\]]*$", t):
        return False
    if not (t[0].isalnum() or t[0] in "\"'“‘(`"):
        return False
    chars = [c for c in t if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    if letters < 0.72 * len(chars):
        return False
    if sum(c in _SYMBOLS for c in chars) > 0.04 * len(chars):
        return False
    if sum(1 for c in chars if c.isalpha() and ord(c) > 127) > 0.05 * letters:
        return False
    if "http://" in t or "https://" in t or "\ufffd" in t:
        return False
    lw = [w.lower() for w in _WORD.findall(t)]
    stops = sum(w in _STOP for w in lw)
    if stops < 3 or stops < 0.15 * n:
        return False
    if sum(len(w) for w in words) / n > 11:
        return False
    return True


def paragraph_passages(par):
    """Greedy: gather whole sentences until >= 20 words (at most 3 sentences, 120 words); a short tail joins
    the paragraph's previous passage when that stays within the limits."""
    groups, cur = [], []

    def wc(ss):
        return sum(len(s.split()) for s in ss)

    for s in sentences(par):
        w = len(s.split())
        if w > 120:
            if cur and wc(cur) >= 20:
                groups.append(cur)
            cur = []
            continue
        if cur and (wc(cur) + w > 120 or len(cur) == 3):
            if wc(cur) >= 20:
                groups.append(cur)
            cur = []
        cur.append(s)
        if wc(cur) >= 20:
            groups.append(cur)
            cur = []
    if cur and groups and len(groups[-1]) + len(cur) <= 3 and wc(groups[-1]) + wc(cur) <= 120:
        groups[-1] = groups[-1] + cur
    return [" ".join(g) for g in groups]


def dedupe_key(t):
    return " ".join(re.findall(r"[a-z0-9]+", t.lower()))


def build_corpus(roots):
    """All unique prose passages, in corpus order: [(text, source, package)], plus per-package counts."""
    seen, passages, stats = set(), [], {}
    for name, fmt, inc, exc in PACKAGES:
        t0 = time.time()
        root = roots[name]
        inc_re, exc_re = re.compile(inc), re.compile(exc) if exc else None
        files = []
        for d, _, fs in os.walk(root):
            for f in fs:
                rel = os.path.relpath(os.path.join(d, f), root)
                if inc_re.search(rel) and not (exc_re and exc_re.search(rel)) and not os.path.islink(
                        os.path.join(d, f)):
                    files.append(rel)
        files.sort()
        n_raw = n_unique = 0
        for rel in files:
            with open(os.path.join(root, rel), "rb") as fh:
                raw = fh.read()
            src = name + ":" + (rel[len("usr/share/"):] if rel.startswith("usr/share/") else rel)
            for par in EXTRACTORS[fmt](raw):
                for p in paragraph_passages(par):
                    if not is_prose(p):
                        continue
                    n_raw += 1
                    k = dedupe_key(p)
                    if k in seen:
                        continue
                    seen.add(k)
                    passages.append((p, src, name))
                    n_unique += 1
        stats[name] = {"files": len(files), "prose_chunks": n_raw, "unique": n_unique,
                       "extract_s": round(time.time() - t0, 1)}
        log(f"{name:22s} files={len(files):6d} chunks={n_raw:7d} unique={n_unique:7d} "
            f"({time.time() - t0:.1f}s)")
    return passages, stats


def balanced_pick(passages, n_total, rng):
    """Indices of at most n_total passages: every package keeps min(count, cap) of its passages (seeded sample),
    with the largest cap whose total is <= n_total; the few left over come from the capped packages.
    Also returns each package's unpicked passages in seeded order (replacements for duplicate vectors)."""
    by_pkg = {}
    for i, (_, _, pkg) in enumerate(passages):
        by_pkg.setdefault(pkg, []).append(i)
    counts = {k: len(v) for k, v in by_pkg.items()}
    lo, hi = 0, max(counts.values())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(c, mid) for c in counts.values()) <= n_total:
            lo = mid
        else:
            hi = mid - 1
    cap = lo
    take = {k: min(c, cap) for k, c in counts.items()}
    extra = n_total - sum(take.values())
    for k in sorted((k for k, c in counts.items() if c > cap), key=lambda k: PACKAGES_ORDER[k]):
        if extra == 0:
            break
        take[k] += 1
        extra -= 1
    chosen, reserve = [], {}
    for k in sorted(by_pkg, key=lambda k: PACKAGES_ORDER[k]):
        idx = by_pkg[k]
        order = rng.permutation(len(idx))
        chosen.extend(idx[j] for j in order[:take[k]])
        reserve[k] = [idx[j] for j in order[take[k]:]]
    return sorted(chosen), (cap if cap < max(counts.values()) else None), reserve


PACKAGES_ORDER = {p[0]: i for i, p in enumerate(PACKAGES)}

# ------------------------------------------------------------------------------------------------- output ---


def write_vecs(path, arr, dtype):
    import numpy as np
    arr = np.ascontiguousarray(arr, dtype=dtype)
    n, d = arr.shape
    rec = np.empty((n, d + 1), dtype="<i4")
    rec[:, 0] = d
    rec[:, 1:] = arr.view("<i4") if dtype == "<f4" else arr
    rec.tofile(path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/vireo-data/docs100k")
    ap.add_argument("--work", default="/tmp/docs-lsa-work", help="downloaded .debs and unpacked trees")
    ap.add_argument("--venv", default="/tmp/venv-dataset")
    ap.add_argument("--n-base", type=int, default=100_000)
    ap.add_argument("--n-query", type=int, default=1_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k-gt", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--svd-iter", type=int, default=7, help="power iterations of the randomized SVD")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (the machine has 2 cores)")
    ap.add_argument("--stats-only", action="store_true", help="build the corpus, print counts, write nothing")
    args = ap.parse_args()

    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(args.threads)
    ensure_venv(args)
    import numpy as np
    import scipy
    import sklearn
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    timings, t_all = {}, time.time()
    t0 = time.time()
    versions, roots = fetch_packages(args.work, [p[0] for p in PACKAGES])
    timings["fetch_unpack_s"] = round(time.time() - t0, 1)

    t0 = time.time()
    passages, per_pkg = build_corpus(roots)
    timings["extract_s"] = round(time.time() - t0, 1)
    n_want = args.n_base + args.n_query
    log(f"unique prose passages: {len(passages)} (want {n_want})")
    if args.stats_only:
        wc = np.array([len(p[0].split()) for p in passages])
        print(json.dumps({"unique": len(passages), "per_package": per_pkg,
                          "words_mean": float(wc.mean()),
                          "words_p5_p50_p95": np.percentile(wc, [5, 50, 95]).tolist()}, indent=1))
        return
    if len(passages) < N_REQUIRED_MIN + args.n_query:
        sys.exit(f"only {len(passages)} passages; need at least {N_REQUIRED_MIN + args.n_query}")

    rng = np.random.default_rng(args.seed)
    chosen, cap, reserve = balanced_pick(passages, n_want, rng)
    perm = rng.permutation(len(chosen))
    q_idx = [chosen[j] for j in perm[:args.n_query]]
    b_idx = sorted(chosen[j] for j in perm[args.n_query:])           # base back in corpus order, as in dev
    queries = [passages[i] for i in q_idx]
    log(f"picked {len(b_idx)} base + {len(queries)} queries (per-package cap {cap})")

    # --- LSA -----------------------------------------------------------------------------------------------
    # Passages that differ only in words rare in the base (a name, a version) can get the very same vector;
    # such base rows would make ranks ambiguous, so the later copy is swapped for an unpicked passage of the
    # same package and the models are fitted again, until neither the TF-IDF rows nor the final vectors
    # (rounded to 1e-4) of the base have duplicates.
    timings["tfidf_s"], timings["svd_s"] = 0.0, 0.0
    dup_replaced, tfidf_fits, svd_fits = 0, 0, 0
    while True:
        base = [passages[i] for i in b_idx]
        t0 = time.time()
        vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, dtype=np.float32)
        xb = vec.fit_transform([p[0] for p in base])
        xb.sort_indices()
        timings["tfidf_s"] += time.time() - t0
        tfidf_fits += 1
        log(f"tf-idf: {xb.shape[1]} features, {xb.nnz} nonzeros ({time.time() - t0:.1f}s)")
        seen, dups = set(), []
        for r in range(xb.shape[0]):
            lo, hi = xb.indptr[r], xb.indptr[r + 1]
            key = xb.indices[lo:hi].tobytes() + np.round(xb.data[lo:hi], 5).tobytes()
            if key in seen:
                dups.append(r)
            seen.add(key)
        if not dups:
            t0 = time.time()
            svd = TruncatedSVD(n_components=args.dim, algorithm="randomized", n_iter=args.svd_iter,
                               random_state=args.seed)
            b = svd.fit_transform(xb).astype(np.float32)
            timings["svd_s"] += time.time() - t0
            svd_fits += 1
            log(f"svd: explained variance {svd.explained_variance_ratio_.sum():.3f} ({time.time() - t0:.1f}s)")
            bn = np.linalg.norm(b, axis=1)
            if (bn == 0).any():
                sys.exit(f"zero vectors after SVD: base {int((bn == 0).sum())}")
            b /= bn[:, None]
            _, first = np.unique(np.round(b, 4), axis=0, return_index=True)
            dups = sorted(set(range(len(b))) - set(first.tolist()))
            if not dups:
                break
        if tfidf_fits >= 20:
            sys.exit(f"{len(dups)} duplicate base rows left after {tfidf_fits} fits")
        drop = set(dups)
        new_idx = [i for r, i in enumerate(b_idx) if r not in drop]
        for r in dups:
            pkg = passages[b_idx[r]][2]
            pool = reserve[pkg] if reserve[pkg] else next((v for v in reserve.values() if v), None)
            if pool:
                new_idx.append(pool.pop(0))
        dup_replaced += len(dups)
        log(f"{len(dups)} base rows duplicate an earlier row: replacing them and fitting again")
        b_idx = sorted(new_idx)
    timings["tfidf_s"], timings["svd_s"] = round(timings["tfidf_s"], 1), round(timings["svd_s"], 1)
    xq = vec.transform([p[0] for p in queries])
    q = svd.transform(xq).astype(np.float32)
    qn = np.linalg.norm(q, axis=1)
    if (qn == 0).any():
        sys.exit(f"zero vectors after SVD: query {int((qn == 0).sum())}")
    q /= qn[:, None]

    # --- exact ground truth ----------------------------------------------------------------------------------
    t0 = time.time()
    k = args.k_gt
    gt_i = np.empty((len(q), k), dtype=np.int32)
    gt_d = np.empty((len(q), k), dtype=np.float32)
    ties = {1: 0, 10: 0, k: 0}
    ids = np.arange(len(b))
    for s in range(0, len(q), 100):
        sc = q[s:s + 100] @ b.T                                         # float32
        part = np.argpartition(-sc, k, axis=1)[:, :k + 1]               # k+1 to see rank k+1 for tie checks
        for r in range(sc.shape[0]):
            cand = part[r]
            order = np.lexsort((ids[cand], -sc[r, cand]))               # score desc, then row index asc
            top = cand[order]
            gt_i[s + r] = top[:k]
            gt_d[s + r] = sc[r, top[:k]]
            for t in ties:
                if sc[r, top[t - 1]] == sc[r, top[t]]:
                    ties[t] += 1
    timings["groundtruth_s"] = round(time.time() - t0, 2)

    # --- sanity -----------------------------------------------------------------------------------------------
    prng = np.random.default_rng(args.seed + 1)
    a1, a2 = prng.integers(0, len(b), 100_000), prng.integers(0, len(b), 100_000)
    keep = a1 != a2
    rand_pair_ip = float(np.mean(np.sum(b[a1[keep]] * b[a2[keep]], axis=1)))
    wc = np.array([len(p[0].split()) for p in base])
    sanity = {
        "base_norm_mean": float(np.linalg.norm(b, axis=1).mean()),
        "query_norm_mean": float(np.linalg.norm(q, axis=1).mean()),
        "random_pair_ip_mean": round(rand_pair_ip, 4),
        "query_top1_ip_mean": round(float(gt_d[:, 0].mean()), 4),
        "query_top10_ip_mean": round(float(gt_d[:, 9].mean()), 4),
        "query_top100_ip_mean": round(float(gt_d[:, k - 1].mean()), 4),
        "queries_with_top1_ip_ge_0_95": int((gt_d[:, 0] >= 0.95).sum()),
        "gt_tie_at_rank1": ties[1],
        "gt_tie_at_rank10": ties[10],
        f"gt_tie_at_rank{k}": ties[k],
        "words_mean": round(float(wc.mean()), 1),
        "words_p5_p50_p95": [int(x) for x in np.percentile(wc, [5, 50, 95])],
    }
    log("sanity", json.dumps(sanity))

    # --- write ------------------------------------------------------------------------------------------------
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    write_vecs(os.path.join(args.out, "base.fvecs"), b, "<f4")
    write_vecs(os.path.join(args.out, "query.fvecs"), q, "<f4")
    write_vecs(os.path.join(args.out, "groundtruth.ivecs"), gt_i, "<i4")
    write_vecs(os.path.join(args.out, "groundtruth.dist.fvecs"), gt_d, "<f4")
    for fname, rows in (("passages.jsonl", base), ("queries.jsonl", queries)):
        with open(os.path.join(args.out, fname), "w", encoding="utf-8") as f:
            for i, (text, src, _) in enumerate(rows):
                f.write(json.dumps({"id": i, "text": text, "source": src}, ensure_ascii=False) + "\n")
    timings["write_s"] = round(time.time() - t0, 1)
    timings["total_s"] = round(time.time() - t_all, 1)

    sel_base, sel_query = {}, {}
    for _, _, pkg in base:
        sel_base[pkg] = sel_base.get(pkg, 0) + 1
    for _, _, pkg in queries:
        sel_query[pkg] = sel_query.get(pkg, 0) + 1
    files = {}
    for fname in sorted(os.listdir(args.out)):
        if fname != "meta.json":
            path = os.path.join(args.out, fname)
            files[fname] = {"bytes": os.path.getsize(path), "sha256": sha256(path)}
    meta = {
        "corpus": "debian-docs (no Python packages; see sources)",
        "seed": args.seed,
        "args": vars(args),
        "sources": {n: {"version": versions[n], "format": fmt} for n, fmt, _, _ in PACKAGES},
        "method": ("LSA: TF-IDF (sublinear tf, lowercase word unigrams+bigrams, min_df=2, smooth idf, l2 rows) "
                   "fitted on the base passages only -> TruncatedSVD (randomized) -> each row L2-normalised; "
                   "queries transformed with the same fitted models. Not a neural embedding: no model weights "
                   "are reachable on this workplace."),
        "embed_model": f"tfidf(1,2; min_df=2; sublinear) + TruncatedSVD({args.dim}, randomized, "
                       f"n_iter={args.svd_iter}, random_state={args.seed})",
        "library_versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
        "tfidf_fits": tfidf_fits,
        "svd_fits": svd_fits,
        "duplicate_vectors_replaced": dup_replaced,
        "tfidf_features": int(xb.shape[1]),
        "tfidf_nnz_base": int(xb.nnz),
        "svd_explained_variance_ratio_sum": round(float(svd.explained_variance_ratio_.sum()), 4),
        "passage_rules": "1-3 whole sentences, 20-120 words, ends with . ! or ?, prose filters (letters >= 72% "
                         "of non-space chars, code symbols <= 4%, English stop words >= 15% of words), exact "
                         "dedupe on lowercased alphanumeric tokens",
        "selection": ("every package keeps min(unique, cap) passages (seeded sample), cap the largest that fits "
                      "n_base+n_query; seeded shuffle: first n_query are the queries, the rest the base, "
                      "base rows in corpus order; a base row whose vector (rounded to 1e-4) equals an earlier "
                      "row's (or whose TF-IDF row equals an earlier one's) is swapped for an unpicked passage of its package "
                      "and the models are fitted again"),
        "per_package_cap": cap,
        "n_unique_passages": len(passages),
        "per_source": {n: {**per_pkg[n], "base": sel_base.get(n, 0), "query": sel_query.get(n, 0)}
                       for n, _, _, _ in PACKAGES},
        "n_base": len(base),
        "n_query": len(queries),
        "dim": args.dim,
        "k_gt": k,
        "metric": "IP (unit vectors: COSINE and L2 rank the same)",
        "gt_tie_break": "equal inner products: lower base row first",
        **sanity,
        **timings,
        "files": files,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    log("done:", args.out, f"({timings['total_s']}s)")


if __name__ == "__main__":
    main()
