#!/usr/bin/env node
// Writes the tokenizer test vectors (tokenizer.md §8) into tests/data/: text with its exact token
// ids from the reference encoder in the npm package tiktoken@1.0.22 (Rust tiktoken as WASM).
// Test time needs neither node nor npm; the generated JSON is committed.
//
//   node tools/gen-token-vectors.js [--pkg DIR] [--out DIR]
//
// --pkg DIR: an unpacked tiktoken@1.0.22 `package/` directory (or env TIKTOKEN_PKG). Without it
// the script runs `npm pack tiktoken@1.0.22` into a temporary directory, checks the npm
// integrity, untars it and removes it afterwards. --out defaults to <repo>/tests/data.
//
// Files (format {"source","encoding","mode","cases":[{"text","utf8_b64","ids"}]}):
//   tok_o200k_ordinary.json   encode_ordinary: hand-written edge cases, prose, code, scripts,
//                             random strings (seeded); no code point of DIVERGENT below
//   tok_o200k_divergent.json  encode_ordinary of strings holding characters assigned after
//                             Unicode 14 (PCRE2 10.42 sees them as unassigned; tiktoken 1.0.22
//                             knows Unicode 16), plus control strings without them; the header
//                             also lists the ranges ("divergent_ranges": [[lo, hi], ...])
//   tok_o200k_harmony_all.json  o200k_harmony with encode(s, 'all'): special tokens in text
//   tok_o200k_reserved.json   o200k_harmony, 'all': the reserved names 200019..201087 (every id
//                             once), at the edges, next to named specials and text, near misses
//                             (out of range, malformed); each case also has "ids_ordinary"
//                             (encode_ordinary: with specials off they are text)
//   tok_o200k_large.json      one ~100 KB document written from the paragraphs below
//   tok_o200k_stress.json     long runs of one unit: {"what","unit_b64","repeat","n_ids",
//                             "ids_fnv1a","ids_head","ids_tail"} (too many ids to store:
//                             fnv1a-32 over the ids as little-endian u32). tiktoken-WASM is
//                             quadratic on one long piece (100 KB of 'x': 12 s; 1 MB aborts),
//                             so runs stay <= 64 KiB.
//
// Deterministic: fixed seeds, fixed order, no dependence on time or locale.
'use strict';

const fs = require('fs');
const path = require('path');

const { PKG, loadTiktoken } = require('./tiktoken-pkg.js');
const SOURCE = 'tiktoken@1.0.22';

// Code points whose pre-tokenizer class (letter, number, the two case classes of the pattern)
// differs between Unicode 14 (PCRE2 10.42; Python 3.11 unicodedata) and Unicode 17 (node 20's
// ICU 78): characters assigned in 15.0-17.0 plus U+0295 (Ll -> Lo in 16.0). Gaps unassigned in
// both are merged into the ranges. tiktoken 1.0.22 knows Unicode 16, so the 17.0 additions in
// here actually agree. tests/test_tokenizer.c lists the same ranges.
const DIVERGENT = [
    [0x0295, 0x0295], [0x088F, 0x088F], [0x0897, 0x0897], [0x0C5C, 0x0C5C], [0x0CDC, 0x0CDC],
    [0x0CF3, 0x0CF3], [0x0ECE, 0x0ECE], [0x1ACF, 0x1AEB], [0x1C89, 0x1C8A], [0xA7CB, 0xA7CF],
    [0xA7D2, 0xA7D2], [0xA7D4, 0xA7D4], [0xA7DA, 0xA7F1], [0x105C0, 0x105F3], [0x10940, 0x10959],
    [0x10D40, 0x10D6D], [0x10D6F, 0x10D85], [0x10EC2, 0x10EC7], [0x10EFA, 0x10EFF],
    [0x1123F, 0x11241], [0x11380, 0x113D3], [0x113E1, 0x113E2], [0x116D0, 0x116E3],
    [0x11B60, 0x11BE0], [0x11BF0, 0x11BF9], [0x11DB0, 0x11DE9], [0x11F00, 0x11F42],
    [0x11F50, 0x11F5A], [0x1342F, 0x1342F], [0x13440, 0x143FA], [0x16100, 0x16139],
    [0x16D40, 0x16D6C], [0x16D70, 0x16D79], [0x16EA0, 0x16ED3], [0x16FF2, 0x16FF6],
    [0x187F8, 0x187FF], [0x18CFF, 0x18CFF], [0x18D09, 0x18DF2], [0x1B132, 0x1B132],
    [0x1B155, 0x1B155], [0x1CCF0, 0x1CCF9], [0x1D2C0, 0x1D2D3], [0x1DF25, 0x1DF2A],
    [0x1E030, 0x1E08F], [0x1E4D0, 0x1E5FA], [0x1E6C0, 0x1E6FF], [0x2B739, 0x2B73F],
    [0x2CEA2, 0x2CEAD], [0x2EBF0, 0x2EE5D], [0x31350, 0x33479],
];

function die(msg) {
    process.stderr.write(`gen-token-vectors: error: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const o = {
        pkg: process.env.TIKTOKEN_PKG || '',
        out: path.join(__dirname, '..', 'tests', 'data'),
    };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--pkg' && i + 1 < argv.length)
            o.pkg = argv[++i];
        else if (argv[i] === '--out' && i + 1 < argv.length)
            o.out = argv[++i];
        else
            die(`unknown argument ${argv[i]} ` +
                '(usage: gen-token-vectors.js [--pkg DIR] [--out DIR])');
    }
    return o;
}

function loadPackage(dir) {
    return loadTiktoken(dir, 'ferry-tokvec-', die);
}

// ---- seeded PRNG (sfc32) ---------------------------------------------------------------------

function makeRng(seed) {
    let a = 0x9e3779b9 ^ seed, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
    const next = () => {
        a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
        const t = (a + b + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = ((c << 21) | (c >>> 11)) >>> 0;
        c = (c + t) >>> 0;
        return t;
    };
    for (let i = 0; i < 16; i++)
        next();
    const r = {
        u32: next,
        below: (n) => Math.floor((next() / 4294967296) * n),
        range: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)),
        pick: (arr) => arr[Math.floor((next() / 4294967296) * arr.length)],
        chance: (p) => next() / 4294967296 < p,
    };
    return r;
}

function isDivergent(cp) {
    for (const [lo, hi] of DIVERGENT)
        if (cp >= lo && cp <= hi)
            return true;
    return false;
}

function hasDivergent(s) {
    for (const ch of s)
        if (isDivergent(ch.codePointAt(0)))
            return true;
    return false;
}

const cp = (n) => String.fromCodePoint(n);

// ---- hand-written edge cases ---------------------------------------------------------------

// tokenizer.md §6/§8 handy vectors, checked against tiktoken before writing.
const HANDY = [
    ['hello world', [24912, 2375]], ["What's", [45350]], ["I'M HERE'S", [40, 95346, 32396, 31233]],
    ['  \n\n  x', [11691, 220, 1215]], ['   leading', [256, 8117]], ['x   ', [87, 271]],
    ['12345678', [7633, 19354, 4388]], ['1,000,000', [16, 11, 1302, 11, 1302]],
    ['?/\n', [30, 11124]], ['e\u0301cole', [68, 13430, 32289]],
    ['Привет, мир!', [23881, 131903, 11, 37934, 0]], ['nel\u0085x', [10085, 126, 227, 87]],
    ['bom\ufeffx', [146878, 5574, 87]], ['mvs\u180ex', [76, 16121, 157, 254, 236, 87]],
    ['def f(x):\n    return x**2\n', [1314, 285, 4061, 1883, 271, 622, 1215, 410, 17, 198]],
    ['<|endoftext|>', [27, 91, 419, 1440, 919, 91, 29]],
];

const EDGE = [
    '', ' ', '  ', '\n', '\r\n', '\r', '\t', 'a', 'A', '0', '!', "'", "'s", "'S", '\u017f',
    "'\u017f", "it'\u017f", "IT'\u017f", "HE'\u017f here", "don't", "DON'T", "Don'T", "we're",
    "WE'RE", "we'Re", "you've", "YOU'VE", "I'm", "I'M", "i'M", "we'll", "WE'LL", "We'Ll", "he'd",
    "HE'D", "it's", "IT'S", "It'S", "rock'n'roll", "o'clock", "'twas", "''s", "'s's", "x's's",
    "dogs'", "dogs' toys", "the 90's", "A's", "ÀB'S", "naïve's", "straße's", "ǅemal's", "ʰa's",
    "don\u2019t", "it\u2019s", "'sa", "'tis", "'LL", "'ll", "a'll", "a'lL", "a'Ve", "a'vE",
    "\u212Aelvin's", "k'\u212A", 'ǈ', 'ǅa', 'Ǆǅǆ', 'ʰʱʲ', 'ªº', 'Kelvin \u212A', 'İstanbul',
    'ﬀﬁﬂ', 'ＡＢＣａｂｃ', '\u180e', '\u0085', '\ufeff', '\u00a0', '\u1680', '\u2000\u2001\u200a',
    '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\u200b', '\u200d', 'a\u180eb', 'a\u0085b',
    'a\ufeffb', 'a\u00a0b', 'a\u2028b', 'a \u0085 b', '\u0085\n', ' \u0085', 'x\u180e ', ' \u180e',
    '\n\n\n', '\r\n\r\n', '\n\r', ' \n', '\n ', ' \n ', '  \n  ', '\t\n', '\n\t', ' \t \n \t ',
    'a\n\nb', 'a\r\n\r\nb', 'a \r\n b', '   \r\n   x', '\r\n\r\n  def', 'x\n', 'x \n', 'x  \n',
    'x\n ', 'x\n  y', 'x  y', 'x   y', 'x\t\ty', ' x', '  x', '   x', '    x', '\tx', '\t\tx',
    ' \tx', '\t x', '\u00a0x', '\u3000x', ' \u3000x', '1', '12', '123', '1234', '12345', '123456',
    '1234567', '0000', '3.14159', '-42', '+1', '1e10', '1_000_000', '0x1F', '2024-06-01',
    '12:34:56', '$1,234.56', '50%', '#1', 'a1b2c3', 'abc123def', '١٢٣٤٥', '१२३४५', '１２３４',
    'Ⅻ', 'ⅷⅸ', '½¼¾', '²³¹', '①②③', '𝟘𝟙𝟚', 'x²', 'H₂O', '...', '…', '---', '—', '–', '!!!',
    '?!', '(a)', '[b]', '{c}', '<d>', '</div>', '<|', '|>', '<|x|>', '//', '/*', '*/', '//\n',
    'a/b', 'a//b', '/usr/bin/', 'http://example.com/a?b=c&d=e#f', 'C:\\Windows\\', ' /\n',
    '.\n', ';\r\n', '/\r\n/', '!\n\n', '"\n', ' "', '""', "''", '``', '```\n', '```c\n',
    '~~', '@user', '#tag', '&amp;', '&#x27;', '%20', '\\n', '\\\\', 'a\u0301', '\u0301',
    '\u0301\u0301\u0301', 'e\u0301\u0302\u0303', ' \u0301', '1\u0301', '!\u0301', 'A\u0301B',
    'ÅÅÅ', 'ååå', 'Åå', 'aÅ', 'ŁÓDŹ łódź', 'ÆØÅ æøå', 'ΑΒΓ αβγ', 'ΣΊΣΥΦΟΣ σίσυφος',
    '\u{1F600}', '\u{1F44D}\u{1F3FD}', '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}',
    '\u{1F1FA}\u{1F1F8}',
    '\u2764\ufe0f', 'a\u{1F600}b', ' \u{1F600}', '\u{1F600}\u{1F600}\u{1F600}', '\u{E000}',
    '\u{F8FF}', '\u{FFFD}', '\u{FFFE}', '\u{FFFF}', '\u{10FFFF}', '\u{E0001}', '\u{1D400}\u{1D41A}',
    '\u0000', '\u0001\u0002', '\u007f', '\u0080', 'a\u0000b', '\u001b[31mred\u001b[0m',
];

// ---- prose, code and scripts ---------------------------------------------------------------

// Paragraphs written for these vectors (also the material of the large document).
const PARAGRAPHS = [
    `The harbor was quiet before dawn. Fishing boats rocked against the pilings, their hulls
slick with dew, and somewhere past the breakwater a buoy bell rang twice and then fell silent.
Mara pulled her collar up and counted the lamps along the pier: eleven lit, two dark, one
flickering as if it couldn't decide.`,
    `In 1887 the town council voted 7-2 to extend the railway spur, a decision that cost
$14,250 (roughly $460,000 today) and took three years longer than promised. Records from the
period show 312 freight cars passing through in 1891, but only 97 in 1893, after the mill closed.`,
    `"Don't touch that," she said. "It's not ours, and it's definitely not yours." He shrugged,
set the box down, and said he'd only wanted to see what was inside. They'd been arguing about
the same thing for an hour; neither of them remembered who'd started it.`,
    `Photosynthesis converts light energy into chemical energy. In the light-dependent
reactions, water is split, oxygen is released, and ATP and NADPH are produced; the Calvin cycle
then uses them to fix CO2 into three-carbon sugars. Roughly 6CO2 + 6H2O -> C6H12O6 + 6O2.`,
    `#include <stdio.h>
#include <stdlib.h>

static int sum(const int *xs, size_t n)
{
    int s = 0;
    for (size_t i = 0; i < n; i++)
        s += xs[i];
    return s;
}

int main(void)
{
    int xs[] = {1, 2, 3, 4, 5};
    printf("%d\\n", sum(xs, sizeof(xs) / sizeof(xs[0])));
    return 0;
}
`,
    `def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


if __name__ == "__main__":
    print(fibonacci(10))  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
`,
    `const express = require('express');
const app = express();

app.get('/api/users/:id', async (req, res) => {
  const user = await db.users.findOne({ id: Number(req.params.id) });
  if (!user) return res.status(404).json({ error: 'not found' });
  res.json(user);
});

app.listen(3000, () => console.log(\`listening on :3000\`));
`,
    `{
  "name": "ferry",
  "version": "0.1.0",
  "tags": ["llm", "inference", "c11"],
  "limits": {"context": 131072, "sliding_window": 128, "temperature": 0.7},
  "enabled": true,
  "owner": null
}
`,
    `| Model | Params | Active | Context |
|-------|-------:|-------:|--------:|
| gpt-oss-20b | 21B | 3.6B | 131,072 |
| gpt-oss-120b | 117B | 5.1B | 131,072 |

> **Note:** the numbers above are approximate; see the model card for details.
`,
    `SELECT u.id, u.name, COUNT(o.id) AS orders
FROM users u
LEFT JOIN orders o ON o.user_id = u.id
WHERE u.created_at >= '2023-01-01'
GROUP BY u.id, u.name
HAVING COUNT(o.id) > 5
ORDER BY orders DESC
LIMIT 20;
`,
    `fn main() {
    let v: Vec<u64> = (1..=10).map(|x| x * x).collect();
    let total: u64 = v.iter().sum();
    println!("sum of squares = {total}");
    match total {
        0 => unreachable!(),
        n if n % 2 == 0 => println!("even"),
        _ => println!("odd"),
    }
}
`,
    `Wir fahren morgen früh nach München, weil die Großmutter Geburtstag hat. Ärgerlich ist nur,
dass der Zug um 6:12 Uhr fährt und die Straßenbahn erst ab 6:30 Uhr verkehrt. Übrigens: Hast
du die Geschenke schon eingepackt?`,
    `Le petit café au coin de la rue était plein d'étudiants qui révisaient leurs examens. « On
n'a plus que deux jours ! » s'exclama l'un d'eux. Les croissants étaient déjà épuisés à huit
heures et demie.`,
    `El año pasado visitamos Cádiz, Sevilla y Córdoba. ¿Sabías que la Mezquita tiene más de 850
columnas? ¡Increíble! Nos quedamos en un hostal pequeño cerca del río Guadalquivir.`,
    `Вчера вечером мы долго гуляли по набережной. Погода была прекрасная, хотя к ночи стало
прохладно. «Давай завтра пойдём в музей», — предложила Аня, и все согласились.`,
    `東京は日本の首都であり、世界でも有数の大都市です。毎日何百万人もの人々が電車で通勤しています。
春には桜が咲き、多くの人が公園で花見を楽しみます。`,
    `我们明天早上八点在图书馆门口见面，然后一起去博物馆。请记得带上学生证，因为学生可以免费入场。
如果下雨的话，我们就改到下周六。`,
    `서울의 겨울은 꽤 춥지만, 눈이 내리면 도시가 정말 아름다워집니다. 우리는 주말마다 한강 공원에서
자전거를 타곤 했어요.`,
    `اللغة العربية من أكثر اللغات انتشاراً في العالم، ويتحدث بها أكثر من ٤٠٠ مليون شخص. تُكتب من
اليمين إلى اليسار، وتحتوي على ٢٨ حرفاً أساسياً.`,
    `हिन्दी भारत की सबसे अधिक बोली जाने वाली भाषा है। यह देवनागरी लिपि में लिखी जाती है और इसमें
स्वर तथा व्यंजन दोनों के लिए अलग-अलग चिह्न होते हैं।`,
    `ภาษาไทยเป็นภาษาที่มีวรรณยุกต์ ห้าเสียง และไม่มีการเว้นวรรคระหว่างคำ ทำให้การตัดคำเป็นเรื่องที่ท้าทาย
สำหรับคอมพิวเตอร์`,
    `Η Αθήνα είναι μία από τις αρχαιότερες πόλεις του κόσμου. Ο Παρθενώνας χτίστηκε τον 5ο αιώνα
π.Χ. και είναι αφιερωμένος στη θεά Αθηνά.`,
    `עברית נכתבת מימין לשמאל, ובדרך כלל בלי ניקוד. ירושלים ותל אביב הן שתי הערים הגדולות בישראל.`,
    `தமிழ் உலகின் மிகப் பழமையான மொழிகளில் ஒன்றாகும். இது இந்தியா, இலங்கை, சிங்கப்பூர் ஆகிய நாடுகளில்
அதிகாரப்பூர்வ மொழியாக உள்ளது.`,
    `Tiếng Việt sử dụng bảng chữ cái Latinh với nhiều dấu thanh: à, á, ả, ã, ạ. Hà Nội là thủ đô,
còn Thành phố Hồ Chí Minh là thành phố lớn nhất.`,
    `Meeting notes 🗒️ — Q3 planning 🚀
✅ ship the tokenizer (ETA: Friday 🤞)
❌ rewrite the scheduler (postponed 😅)
👉 owners: @mara, @jon 👩‍💻👨‍💻
Budget: €12.5k / £10.7k / ¥1.9M 💸`,
    `ERROR 2024-06-01T12:34:56.789Z [worker-3] request_id=8f14e45f failed: timeout after 30000ms
WARN  2024-06-01T12:34:57.001Z [worker-3] retrying (attempt 2/5) backoff=250ms
INFO  2024-06-01T12:34:58.420Z [worker-1] GET /healthz 200 0.8ms`,
    `THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG. the quick brown fox jumps over the lazy dog.
ThE qUiCk BrOwN fOx. CamelCaseIdentifier snake_case_identifier SCREAMING_SNAKE_CASE kebab-case`,
    `The integral of e^(-x^2) over the real line equals √π ≈ 1.7724538509. For all ε > 0 there
exists δ > 0 such that |f(x) − f(a)| < ε whenever |x − a| < δ. ∑_{k=1}^{n} k = n(n+1)/2.`,
    `Dear Mr. O'Brien,

Thank you for your letter of March 3rd. We've reviewed your claim (ref. #A-2291/B) and I'm
pleased to confirm that you'll receive a refund of $89.99 within 5–7 business days.

Kind regards,
J. McAllister`,
    `    if (x > 0) {\r\n        return x;\r\n    }\r\n    else {\r\n        return -x;\r\n    }\r\n`,
    `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Ferry &mdash; test</title></head>
<body>
  <p class="lead">Hello, <em>world</em>!</p>
  <a href="https://example.org/path?q=1&amp;r=2">link</a>
</body>
</html>
`,
    `$ ./configure --prefix=/usr/local && make -j8 && sudo make install
checking for gcc... gcc
checking whether the C compiler works... yes
config.status: creating Makefile`,
];

const SENTENCES = [
    'The cat sat on the mat.', "She's been waiting since 9 o'clock.", 'Why not?',
    'I told him: "Never again."', 'Version 2.0.1 was released on 2024-03-15.',
    'Temperatures ranged from -12°C to 38°C.', 'Call +1 (555) 010-9999 or e-mail info@example.com.',
    'He ran 42.195 km in 2:01:09.', 'Is it 10:30 a.m. or p.m.?', 'Wait... what?!',
    'they\'re, there, their', "We'd've gone if we'd known.", "Y'ALL'D'VE",
    'co-operate vs cooperate',
    'state-of-the-art', 'e.g., i.e., etc.', 'Mr. & Mrs. Smith', 'ISBN 978-3-16-148410-0',
    'fooBar bazQux', 'XMLHttpRequest', 'iPhone', 'McDonald', 'HTTPServer', 'ABCdef', 'abcDEF',
];

const CODE_SNIPPETS = [
    'x = [i**2 for i in range(10) if i % 2]', 'for (int i = 0; i < n; ++i) { a[i] = 0; }',
    'if err != nil {\n\treturn err\n}', 'SELECT * FROM t WHERE a = 1;',
    '#define MAX(a, b) ((a) > (b) ? (a) : (b))',
    'const f = (a, b) => a + b;', 'std::vector<std::string> v{"a", "b"};', 'print(f"{x:.3f}")',
    '$ ls -la /tmp | grep foo', '<div class="x">&nbsp;</div>', 'a->b->c', 'p != NULL && *p',
    '0xDEADBEEF', 'x <<= 2;', 'i++; j--;', 'return {"ok": true}', '// TODO(mara): fix this',
    '/* comment */', '    # indented comment', '\t\tcase 3: break;', 'lambda x: x+1',
    'git commit -m "fix: tokenizer"', 'https://github.com/org/repo/blob/main/src/x.c#L10-L20',
    'fn foo<T: Clone>(x: &T) -> T { x.clone() }', 'SELECT COUNT(*) FROM users;\n',
    'key: value\nlist:\n  - a\n  - b\n', '[section]\nname = "x"\n', 'a = b\r\nc = d\r\n',
    '}\n\n\n\nint main', '  \n  \n  ', 'end\n\n', '\n\n\n\n', 'x\r\n\r\n\r\n',
];

// ---- random strings ------------------------------------------------------------------------

const POOLS = {
    lower: [[0x61, 0x7a]], upper: [[0x41, 0x5a]], digit: [[0x30, 0x39]],
    punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
    latin1: [[0xc0, 0xff], [0xa1, 0xbf]], latinx: [[0x100, 0x24f]],
    ipa: [[0x250, 0x2af], [0x2b0, 0x2ff]], greek: [[0x370, 0x3ff]], cyril: [[0x400, 0x4ff]],
    armen: [[0x531, 0x58a]], hebrew: [[0x591, 0x5f4]],
    arabic: [[0x600, 0x6ff], [0x750, 0x77f]], deva: [[0x900, 0x97f]], bengali: [[0x980, 0x9fe]],
    tamil: [[0xb82, 0xbfa]], thai: [[0xe01, 0xe5b]], georg: [[0x10a0, 0x10ff]],
    hangul: [[0xac00, 0xd7a3], [0x1100, 0x11ff]], kana: [[0x3041, 0x30ff]], cjk: [[0x4e00, 0x9fff]],
    cjkb: [[0x20000, 0x2a6df]],
    marks: [[0x300, 0x36f], [0x1ab0, 0x1ace], [0x20d0, 0x20f0], [0xfe20, 0xfe2f]],
    emoji: [[0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x1f680, 0x1f6ff], [0x1f900, 0x1faff],
        [0x2600, 0x27bf]],
    symbols: [[0x2190, 0x22ff], [0x20a0, 0x20c0], [0x2500, 0x257f], [0x2100, 0x214f]],
    numeric: [[0x660, 0x669], [0x966, 0x96f], [0xff10, 0xff19], [0x2160, 0x2188], [0xb2, 0xb3],
        [0xbc, 0xbe], [0x2460, 0x249b], [0x1d7ce, 0x1d7ff]],
    ws: [[0x09, 0x0d], [0x20, 0x20], [0x85, 0x85], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a],
        [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000]],
    notws: [[0x180e, 0x180e], [0xfeff, 0xfeff], [0x200b, 0x200d], [0x2060, 0x2060],
        [0xfe0f, 0xfe0f]],
    fullwidth: [[0xff01, 0xff5e]], privuse: [[0xe000, 0xf8ff], [0xf0000, 0xf00ff]],
    control: [[0x00, 0x08], [0x0e, 0x1f], [0x7f, 0x9f]],
    titlecase: [[0x1c4, 0x1cc], [0x1f1, 0x1f3], [0x1f88, 0x1f8f]],
    any: [[0x0, 0xd7ff], [0xe000, 0x10ffff]],
};

const FRAGMENTS = [
    "'s", "'S", "'\u017f", "'t", "'T", "'re", "'RE", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL",
    "'Ll", "'d", "'D", "'x", '\u2019s', '\r\n', '\r\n\r\n', '\n\n', '    ', '\t', ' ', '  ', '   ',
    '\u{1F468}\u200d\u{1F4BB}', '\u{1F44B}\u{1F3FF}', '\u{1F1EF}\u{1F1F5}', '\u2764\ufe0f',
    '123', '4567', '3.14', '1,000', '-', '_', '/', '//', '<|', '|>', '...', 'http://', 'www.',
    'the', 'The', 'THE', 'and', 'ing', 'tion', 'don', 'I', 'a', 'é', 'e\u0301', 'ß', 'ẞ',
];

const POOL_WEIGHTS = [
    ['lower', 30], ['upper', 12], ['digit', 10], ['punct', 10], ['ws', 10], ['frag', 14],
    ['latin1', 5], ['latinx', 3], ['ipa', 2], ['greek', 3], ['cyril', 4], ['armen', 1],
    ['hebrew', 2], ['arabic', 3], ['deva', 3], ['bengali', 1], ['tamil', 1], ['thai', 2],
    ['georg', 1], ['hangul', 3], ['kana', 2], ['cjk', 5], ['cjkb', 1], ['marks', 4], ['emoji', 4],
    ['symbols', 2], ['numeric', 2], ['notws', 2], ['fullwidth', 1], ['privuse', 1], ['control', 1],
    ['titlecase', 1], ['any', 3],
];

function drawFrom(rng, ranges) {
    let total = 0;
    for (const [lo, hi] of ranges)
        total += hi - lo + 1;
    for (;;) {
        let k = rng.below(total);
        for (const [lo, hi] of ranges) {
            if (k <= hi - lo) {
                const c = lo + k;
                if (!isDivergent(c))
                    return cp(c);
                break;
            }
            k -= hi - lo + 1;
        }
    }
}

function drawAtom(rng, weights) {
    let total = 0;
    for (const [, w] of weights)
        total += w;
    let k = rng.below(total);
    for (const [name, w] of weights) {
        if (k < w)
            return name === 'frag' ? rng.pick(FRAGMENTS) : drawFrom(rng, POOLS[name]);
        k -= w;
    }
    return 'x';
}

// A string of n atoms; `focus` (a pool name) biases it towards one class so runs form.
function randomString(rng, n, focus) {
    let s = '';
    for (let i = 0; i < n; i++) {
        if (focus && rng.chance(0.6))
            s += focus === 'frag' ? rng.pick(FRAGMENTS) : drawFrom(rng, POOLS[focus]);
        else
            s += drawAtom(rng, POOL_WEIGHTS);
    }
    return s;
}

// ---- composed text ---------------------------------------------------------------------------

const WORDS = ('time person year way day thing man world life hand part child eye woman place ' +
    'work week case point government company number group problem fact be have do say get make ' +
    'go know take see come think look want give use find tell ask seem feel try leave call good ' +
    'new first last long great little own other old right big high different small large next ' +
    'early young important few public bad same able to of in for on with at by from up about ' +
    'into over after kernel buffer thread socket token vector matrix tensor cache pointer')
    .split(' ');

function randomProse(rng, nWords) {
    const out = [];
    let cap = true;
    for (let i = 0; i < nWords; i++) {
        let w = rng.pick(WORDS);
        if (cap)
            w = w[0].toUpperCase() + w.slice(1);
        if (rng.chance(0.03))
            w = w.toUpperCase();
        if (rng.chance(0.04))
            w += rng.pick(["'s", "'re", "'ll", "'d", "'ve", "n't", "'S"]);
        if (rng.chance(0.05))
            w = String(rng.range(0, 100000));
        cap = false;
        out.push(w);
        if (rng.chance(0.08)) {
            out[out.length - 1] += rng.pick(['.', '!', '?']);
            cap = true;
        } else if (rng.chance(0.08)) {
            out[out.length - 1] += rng.pick([',', ';', ':', ' -', ' (', ')']);
        }
    }
    let s = out.join(' ');
    if (rng.chance(0.3))
        s = s.replace(/ /g,
            () => (rng.chance(0.05) ? rng.pick(['\n', '  ', '\r\n', '\t', '\n\n']) : ' '));
    return s;
}

function whitespaceCases(rng) {
    const units = [' ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u0085', '\u2003', '\u180e',
        '\ufeff', '\u000b', '\u000c'];
    const out = [];
    for (let i = 0; i < 120; i++) {
        let s = '';
        const n = rng.range(1, 12);
        for (let j = 0; j < n; j++) {
            const u = rng.pick(units);
            s += u.repeat(rng.range(1, 6));
            if (rng.chance(0.3))
                s += rng.pick(['x', 'Word', '1', '!', '\u00e9', '\u4e2d', '//', "'s"]);
        }
        out.push(s);
    }
    for (const n of [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 129, 255, 256,
        257, 1000])
        out.push(' '.repeat(n) + 'x', 'x' + ' '.repeat(n), '\n'.repeat(n), ' '.repeat(n) + '\n',
            '\t'.repeat(n) + 'y');
    return out;
}

function numberCases(rng) {
    const out = [];
    for (let i = 0; i < 60; i++) {
        const digits = rng.range(1, 25);
        let s = '';
        for (let j = 0; j < digits; j++)
            s += String(rng.below(10));
        out.push(s);
    }
    for (let i = 0; i < 40; i++) {
        const a = rng.range(-100000, 100000), b = rng.range(0, 99999);
        out.push(rng.pick([`${a}.${b}`, `${a},${b}`, `${a}e-${b % 40}`, `v${a}.${b}`, `${a}%`,
            `$${Math.abs(a)}.${b % 100}`, `${a}/${b}`, `(${a})`, `${a}:${b}`, `#${b}`]));
    }
    return out;
}

function scriptCases(rng) {
    const out = [];
    const scriptPools = ['greek', 'cyril', 'armen', 'hebrew', 'arabic', 'deva', 'bengali', 'tamil',
        'thai', 'georg', 'hangul', 'kana', 'cjk', 'cjkb', 'latin1', 'latinx', 'ipa', 'emoji',
        'marks', 'titlecase', 'numeric', 'symbols', 'fullwidth', 'notws', 'control', 'privuse'];
    for (const pool of scriptPools) {
        for (let i = 0; i < 12; i++) {
            const n = rng.range(1, 14);
            let s = '';
            for (let w = 0; w < n; w++) {
                const len = rng.range(1, 8);
                for (let j = 0; j < len; j++) {
                    s += drawFrom(rng, POOLS[pool]);
                    if (pool !== 'marks' && rng.chance(0.1))
                        s += drawFrom(rng, POOLS.marks);
                }
                s += rng.pick([' ', ' ', ' ', ', ', '. ', '\n', '', "'s "]);
            }
            out.push(s);
        }
    }
    // combining-mark heavy scripts: Devanagari conjuncts, Arabic with harakat, Thai tone marks
    const combos = ['क्षत्रिय', 'श्रीमान्', 'द्वारा', 'مُحَمَّد', 'كِتَابٌ',
        'السَّلَامُ عَلَيْكُمْ', 'ที่นี่', 'น้ำ', 'ก็', 'ñ', 'n\u0303',
        'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334',
        'a\u0308\u0304', '\u05e9\u05c1\u05b8', '\u0915\u093f', 'ខ្មែរ', 'မြန်မာ', '각', 'க்ஷ'];
    for (const c of combos)
        out.push(c, c + ' ' + c, 'A' + c, c.toUpperCase() + "'s", ' ' + c + '\n');
    return out;
}

// The §4 table and other pre-tokenizer pitfalls, each in a few contexts.
function patternCases() {
    const out = [];
    const chars = ['\u180e', '\u0085', '\ufeff', '\u00a0', '\u200b', '\u2028', '\u3000', '\u000b',
        '\u000c', '\u001c', '\u001f'];
    for (const c of chars)
        out.push(c, 'a' + c, c + 'a', 'a' + c + 'b', ' ' + c, c + ' ', c + '\n', '\n' + c, c + c,
            'A' + c + 'B', '1' + c + '2', '!' + c + '!', c + "'s");
    for (const w of ['it', 'HE', 'She', 'x', '\u00e9', '\u4e2d', '1', '!', ' ', ''])
        for (const c of ["'\u017f", "'S", "'s", "'\u017fa", "'Ll", "'lL", "'VE", "'Re", "'D", "'M",
            "'T", "'\u017f'\u017f"])
            out.push(w + c);
    return out;
}

// ---- special-token strings (mode "all", o200k_harmony) ---------------------------------------

const SPECIAL_NAMES = [
    '<|startoftext|>', '<|endoftext|>', '<|reserved_200000|>', '<|reserved_200001|>', '<|return|>',
    '<|constrain|>', '<|reserved_200004|>', '<|channel|>', '<|start|>', '<|end|>', '<|message|>',
    '<|reserved_200009|>', '<|reserved_200010|>', '<|reserved_200011|>', '<|call|>',
    '<|reserved_200013|>', '<|reserved_200014|>', '<|reserved_200015|>', '<|reserved_200016|>',
    '<|reserved_200017|>', '<|endofprompt|>',
];

// The special tokens of o200k_harmony, ids 199998..201087 (n_vocab 201088), after OpenAI's
// gpt-oss reference tokenizer (openai/gpt-oss gpt_oss/tokenizer.py): o200k_base's specials
// (<|endoftext|> 199999, <|endofprompt|> 200018), the harmony names of 199998..200012, and
// <|reserved_<id>|> for every id in 200013..201087 that has no other name. So 200018 is only
// <|endofprompt|> (an older version of that file also mapped <|reserved_200018|> to it), and
// <|reserved_201088|> is not a token (the harmony crate's list runs to 201088, one past the
// model's table). tiktoken matches these exact strings only.
function harmonySpecials() {
    const sp = {};
    for (let k = 0; k < SPECIAL_NAMES.length; k++)
        sp[SPECIAL_NAMES[k]] = 199998 + k;
    for (let id = 200019; id <= 201087; id++)
        sp[`<|reserved_${id}|>`] = id;
    return sp;
}

function specialCases(rng) {
    const out = [
        '<|startoftext|><|start|><|message|>Hello World<|end|><|endoftext|>',
        '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n' +
        'Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels: analysis, ' +
        'commentary, final. Channel must be included for every message.<|end|>' +
        '<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant',
        '<|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide ' +
        'answer.<|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>',
        '<|start|>developer<|message|># Instructions\n\nAnswer briefly.\n\n# Tools\n\n' +
        '## functions\n\n' +
        'namespace functions {\n\n// Gets the weather\ntype get_weather = (_: {\n// City name\n' +
        'location: string,\n}) => any;\n\n} // namespace functions<|end|>',
        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json' +
        '<|message|>{"location":"Tokyo"}<|call|>',
        '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>' +
        '{"temp":21}<|end|>',
        '<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>analysis<|message|>Greet.' +
        '<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|end|>' +
        '<|start|>user<|message|>Thanks<|end|><|start|>assistant',
        '<|endofprompt|>', '<|reserved_200000|><|reserved_200017|>', '<|end|><|end|><|end|>',
        'a<|end|>b', ' <|end|> ', '\n<|start|>\n', '<|end|', '<|end', '|end|>', '<||>',
        '<|<|end|>|>',
        '<|endoftext|>x<|endoftext', '<|reserved_200018|>', '<<|start|>>', '<|START|>', '< |end| >',
        'text<|message|>more text<|constrain|>json', '<|call|><|return|><|channel|>', '',
        'no specials at all', "it's<|end|>'s", '12<|end|>34', '  <|start|>  ',
        '\u{1F600}<|end|>\u4e2d',
    ];
    for (let i = 0; i < 150; i++) {
        let s = '';
        const n = rng.range(1, 8);
        for (let j = 0; j < n; j++) {
            if (rng.chance(0.4))
                s += rng.pick(SPECIAL_NAMES);
            else if (rng.chance(0.5))
                s += randomProse(rng, rng.range(1, 8));
            else
                s += randomString(rng, rng.range(1, 10));
            if (rng.chance(0.2))
                s += rng.pick(['<|', '|>', '<', '|', '<|end', 'end|>']);
        }
        out.push(s);
    }
    return out;
}

// The reserved names 200019..201087 (tok_o200k_reserved.json).
function reservedCases(rng) {
    const r = (id) => `<|reserved_${id}|>`;
    const all = [];
    for (let id = 200019; id <= 201087; id++)
        all.push(r(id));
    const out = [
        all.join(''), // every reserved id once, in order
        SPECIAL_NAMES.join('') + r(200019) + ' ' + r(201087), // 199998..200019, then the last
        r(200019), r(201087), r(200020), r(200500), r(200999), r(201000), r(201086),
        r(200017) + '<|endofprompt|>' + r(200019), '<|endofprompt|>' + r(200019) + r(200020),
        '<|endoftext|>' + r(201087) + '<|startoftext|>', r(200013) + r(200019) + r(201087),
        '<|start|>assistant<|channel|>final<|message|>Hi' + r(200600) + '<|return|>',
        '<|call|>' + r(201087) + '<|end|>', r(200012) + r(200018) + r(200019),
        'Hello' + r(200500) + 'World', ' ' + r(200019) + ' ', '\n' + r(201087) + '\n',
        'a' + r(200019) + r(200020) + 'b', "it's" + r(200300) + "'s", '12' + r(200400) + '34',
        '\u{1F600}' + r(200777) + '\u4e2d', r(200100) + r(200100) + r(200100),
        // not special: out of range, taken by another name, below the range, malformed
        r(201088), r(201089), r(999999), r(200018), r(199999), r(199998), r(199997), r(0),
        '<|reserved_|>', '<|reserved_0200019|>', '<|reserved_00200019|>', '<|reserved_2000190|>',
        '<|reserved_20001|>', '<|reserved_-200019|>', '<|reserved_+200019|>',
        '<|reserved_200019 |>', '<|reserved_ 200019|>', '<|RESERVED_200019|>',
        '<|Reserved_200019|>', '<|reserved200019|>', '<|reserved-200019|>', '<|reserved_200019',
        '<|reserved_200019|', 'reserved_200019|>', '|reserved_200019|>', '<reserved_200019>',
        '[PAD200019]', '[PAD201087]', '<|reserved_２００１９|>',
        // near misses next to real ones
        '<' + r(200019) + '>', '<|' + r(200019) + '|>', r(200019) + '|>', '<|reserved_' + r(200019),
        r(201087) + r(201088) + r(201087), '<|reserved_201088|><|end|>', r(200019).slice(0, -1),
    ];
    for (let i = 0; i < 40; i++) {
        let s = '';
        const n = rng.range(1, 6);
        for (let j = 0; j < n; j++) {
            if (rng.chance(0.5))
                s += r(rng.chance(0.1) ? rng.pick([200018, 201088, 201100]) :
                    rng.range(200019, 201087));
            else if (rng.chance(0.3))
                s += rng.pick(SPECIAL_NAMES);
            else
                s += randomProse(rng, rng.range(1, 6));
        }
        out.push(s);
    }
    return out;
}

// ---- divergent (Unicode 15/16/17 characters) -------------------------------------------------

function divergentCases(rng) {
    const out = [];
    const named = [0x1e030, 0x11f04, 0xa7cb, 0x0897, 0x0295, 0x31350, 0x2ebf0, 0x13460, 0x105c0,
        0x10d40, 0x16100, 0x16d40, 0x1e5d0, 0x11380, 0x1ccf0, 0x0cf3, 0x1acf, 0x1c89, 0x116d0];
    for (const c of named) {
        const ch = cp(c);
        out.push(ch, 'x' + ch + 'y', 'A' + ch, ch + "'s", ' ' + ch + ch, '1' + ch + '2',
            'abc ' + ch + ' def');
    }
    for (let i = 0; i < 60; i++) {
        let s = '';
        const n = rng.range(1, 12);
        for (let j = 0; j < n; j++) {
            if (rng.chance(0.3)) {
                const [lo, hi] = rng.pick(DIVERGENT);
                s += cp(rng.range(lo, hi));
            } else {
                s += drawAtom(rng, POOL_WEIGHTS);
            }
        }
        out.push(s);
    }
    // controls: no listed code point, so the C test checks them exactly
    out.push('control: plain ASCII', '\u0294\u0296 neighbors of U+0295', '\ua7ca\ua7d0 neighbors');
    return out;
}

// ---- the large document ----------------------------------------------------------------------

function largeDocument(rng, targetBytes) {
    const parts = [];
    let bytes = 0;
    let k = 0;
    while (bytes < targetBytes) {
        let p;
        const r = rng.below(10);
        if (r < 6) {
            p = PARAGRAPHS[(k + rng.below(PARAGRAPHS.length)) % PARAGRAPHS.length];
            // vary numbers and names so repeated paragraphs are not identical
            p = p.replace(/\d+/g,
                (m) => (rng.chance(0.5) ? String(rng.range(0, 10 ** Math.min(m.length, 6))) : m));
        } else if (r < 9) {
            p = randomProse(rng, rng.range(30, 160));
        } else {
            p = rng.pick(CODE_SNIPPETS) + '\n' + rng.pick(SENTENCES);
        }
        k++;
        const sep = rng.pick(['\n\n', '\n\n', '\n', '\r\n\r\n', '\n\n\n']);
        parts.push(p + sep);
        bytes += Buffer.byteLength(p + sep, 'utf8');
    }
    return parts.join('');
}

// ---- output ------------------------------------------------------------------------------------

function caseOf(text, ids) {
    return { text, utf8_b64: Buffer.from(text, 'utf8').toString('base64'), ids: Array.from(ids) };
}

function writeVectors(file, encoding, mode, cases, extra) {
    let head = `{"source":${JSON.stringify(SOURCE)},"encoding":${JSON.stringify(encoding)},` +
        `"mode":${JSON.stringify(mode)},`;
    for (const [k, v] of Object.entries(extra || {}))
        head += `${JSON.stringify(k)}:${JSON.stringify(v)},`;
    head += '"cases":[\n';
    const body = cases.map((c) => JSON.stringify(c)).join(',\n');
    fs.writeFileSync(file, head + body + '\n]}\n');
    process.stdout.write(`gen-token-vectors: ${path.basename(file)}: ${cases.length} cases\n`);
}

function fnv1a(ids) {
    let h = 0x811c9dc5;
    for (const id of ids) {
        for (let b = 0; b < 4; b++) {
            h ^= (id >>> (8 * b)) & 0xff;
            h = Math.imul(h, 0x01000193) >>> 0;
        }
    }
    return h >>> 0;
}

function main() {
    const opt = parseArgs(process.argv.slice(2));
    const pkg = loadPackage(opt.pkg);
    try {
        const tk = require(path.join(path.resolve(pkg.dir), 'tiktoken.cjs'));
        const json = JSON.parse(
            fs.readFileSync(path.join(pkg.dir, 'encoders', 'o200k_base.json'), 'utf8'));
        const base = tk.get_encoding('o200k_base');
        const harmony = new tk.Tiktoken(json.bpe_ranks, harmonySpecials(), json.pat_str);
        const enc = (s) => Array.from(base.encode_ordinary(s));
        fs.mkdirSync(opt.out, { recursive: true });

        for (const [s, want] of HANDY) {
            const got = enc(s);
            if (JSON.stringify(got) !== JSON.stringify(want))
                die(`handy vector ${JSON.stringify(s)}: tiktoken gives ${JSON.stringify(got)}`);
        }

        // ordinary
        const rng = makeRng(20240601);
        let texts = [];
        texts.push(...HANDY.map((h) => h[0]), ...EDGE, ...SENTENCES, ...CODE_SNIPPETS,
            ...PARAGRAPHS);
        for (const p of PARAGRAPHS)
            texts.push(...p.split('\n'), p.replace(/\n/g, '\r\n'), p.toUpperCase());
        texts.push(...patternCases(), ...whitespaceCases(rng), ...numberCases(rng),
            ...scriptCases(rng));
        for (let i = 0; i < 200; i++)
            texts.push(randomProse(rng, rng.range(1, 60)));
        const focusPools = [null, null, null, 'frag', 'ws', 'marks', 'digit', 'punct', 'upper',
            'any', 'emoji', 'cjk', 'arabic', 'deva', 'latin1', 'notws'];
        for (let i = 0; i < 1600; i++)
            texts.push(randomString(rng, rng.range(1, 40), rng.pick(focusPools)));
        for (let i = 0; i < 20; i++)   // a few long mixed inputs
            texts.push(randomString(rng, rng.range(500, 2000), null) + randomProse(rng, 300));
        const seen = new Set();
        texts = texts.filter((s) => (seen.has(s) ? false : (seen.add(s), true)));
        for (const s of texts)
            if (hasDivergent(s))
                die(`ordinary case holds a divergent code point: ${JSON.stringify(s)}`);
        writeVectors(path.join(opt.out, 'tok_o200k_ordinary.json'), 'o200k_base', 'ordinary',
            texts.map((s) => caseOf(s, enc(s))));

        // divergent
        const drng = makeRng(1516);
        writeVectors(path.join(opt.out, 'tok_o200k_divergent.json'), 'o200k_base', 'ordinary',
            divergentCases(drng).map((s) => caseOf(s, enc(s))), { divergent_ranges: DIVERGENT });

        // specials
        const spCases = specialCases(makeRng(200006)).filter((s) => !hasDivergent(s));
        const want = [199998, 200006, 200008, 13225, 5922, 200007, 199999];
        const sp0 = Array.from(harmony.encode(spCases[0], 'all'));
        if (JSON.stringify(sp0) !== JSON.stringify(want))
            die(`special vector: tiktoken gives ${JSON.stringify(sp0)}`);
        writeVectors(path.join(opt.out, 'tok_o200k_harmony_all.json'), 'o200k_harmony', 'all',
            spCases.map((s) => caseOf(s, harmony.encode(s, 'all'))));

        // reserved names
        const rvCases = reservedCases(makeRng(200019)).filter((s) => !hasDivergent(s));
        const rv0 = Array.from(harmony.encode(rvCases[0], 'all'));
        if (rv0.length !== 1069 || rv0[0] !== 200019 || rv0[1068] !== 201087)
            die('reserved vector: tiktoken does not give 200019..201087');
        writeVectors(path.join(opt.out, 'tok_o200k_reserved.json'), 'o200k_harmony', 'all',
            rvCases.map((s) => Object.assign(caseOf(s, harmony.encode(s, 'all')),
                { ids_ordinary: enc(s) })),
            { rule: 'specials 199998..201087 as in openai/gpt-oss gpt_oss/tokenizer.py: ' +
                'o200k_base specials, the harmony names, <|reserved_<id>|> for the other ids ' +
                'from 200013 (200018 is <|endofprompt|> only)' });

        // large document
        const doc = largeDocument(makeRng(100000), 100 * 1024);
        if (hasDivergent(doc))
            die('large document holds a divergent code point');
        writeVectors(path.join(opt.out, 'tok_o200k_large.json'), 'o200k_base', 'ordinary',
            [caseOf(doc, enc(doc))]);

        // stress: long runs of one unit
        const units = [['x', 65536], [' ', 65536], ['\n', 65536], ['\t', 16384], ['\r\n', 16384],
            ['1', 65536], ['!', 65536], ['\u4e2d', 21845], ['\u00e9', 32768], ['\u{1F600}', 16384],
            ['X', 65536], ['ab', 32768], [' x', 32768], ['  \n', 16384]];
        const stress = [];
        for (const [u, n] of units) {
            const ids = enc(u.repeat(n));
            stress.push({
                what: `${JSON.stringify(u)} x ${n}`,
                unit_b64: Buffer.from(u, 'utf8').toString('base64'), repeat: n,
                n_ids: ids.length, ids_fnv1a: fnv1a(ids), ids_head: ids.slice(0, 16),
                ids_tail: ids.slice(-16),
            });
        }
        writeVectors(path.join(opt.out, 'tok_o200k_stress.json'), 'o200k_base', 'ordinary', stress);
        base.free();
        harmony.free();
    } finally {
        if (pkg.tmp)
            fs.rmSync(pkg.tmp, { recursive: true, force: true });
    }
}

main();
