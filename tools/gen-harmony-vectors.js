#!/usr/bin/env node
// Writes tests/data/harmony_vectors.json: harmony renders (tokenizer.md §7) with their exact
// o200k_harmony token ids, from the reference encoder in the npm package tiktoken@1.0.22 (Rust
// tiktoken compiled to WASM; tokenizer.md §8). Test time needs neither node nor npm.
//
//   node tools/gen-harmony-vectors.js [OUT.json]
//
// OUT defaults to <repo>/tests/data/harmony_vectors.json. The package is fetched with
// `npm pack` into a temporary directory and checked against its npm integrity; set
// TIKTOKEN_PKG=/path/to/unpacked/package to use an existing copy instead.
//
// Each case is composed here as a list of fields, the way harmony renders a conversation: a
// special token, or a text field encoded on its own with encode_ordinary (so BPE never crosses
// a field, and special-token strings inside text stay text). The ids are the concatenation.
// `whole` records whether encode(text, 'all') of the joined text gives the same ids; it does
// except where message text spells a special token. tests/test_harmony.c builds the same
// conversations through the C API and compares ids exactly.
'use strict';

const fs = require('fs');
const path = require('path');

const { PKG, loadTiktoken } = require('./tiktoken-pkg.js');

// tokenizer.md §7: the two goldens, checked here and (hard-coded) in the C test.
const GOLDEN_RENDER = [200006, 17360, 200008, 3575, 553, 17554, 162016, 11, 261, 4410, 6439, 2359,
    22203, 656, 7788, 17527, 558, 87447, 100594, 25, 220, 1323, 19, 12, 3218, 279, 30377, 289, 25,
    14093, 279, 2, 13888, 18403, 25, 8450, 11, 49159, 11, 1721, 13, 21030, 2804, 413, 7360, 395,
    1753, 3176, 13, 200007, 200006, 1428, 200008, 4827, 382, 220, 17, 659, 220, 17, 30, 200007,
    200006, 173781];

function die(msg) {
    process.stderr.write(`gen-harmony-vectors: error: ${msg}\n`);
    process.exit(1);
}

function loadPackage() {
    return loadTiktoken(process.env.TIKTOKEN_PKG, 'ferry-harmony-', die);
}

// The o200k_harmony specials (tokenizer.md §6, §8.3).
function harmonySpecials() {
    const named = {
        199998: '<|startoftext|>', 199999: '<|endoftext|>', 200002: '<|return|>',
        200003: '<|constrain|>', 200005: '<|channel|>', 200006: '<|start|>', 200007: '<|end|>',
        200008: '<|message|>', 200012: '<|call|>', 200018: '<|endofprompt|>',
    };
    const sp = {};
    for (let id = 199998; id <= 201087; id++)
        sp[named[id] || `<|reserved_${id}|>`] = id;
    return sp;
}

// ---- harmony composition (tokenizer.md §7) -------------------------------------------------

const sp = (name) => ({ special: name });
const tx = (text) => ({ text });

const IDENTITY = 'You are ChatGPT, a large language model trained by OpenAI.';
const CHANNELS = '# Valid channels: analysis, commentary, final. Channel must be included for ' +
    'every message.';
const FUNCS_NOTE = "Calls to these tools must go to the commentary channel: 'functions'.";

function systemText(o) {
    let top = `${o.identity || IDENTITY}\nKnowledge cutoff: ${o.cutoff || '2024-06'}`;
    if (o.date)
        top += `\nCurrent date: ${o.date}`;
    const sections = [top, `Reasoning: ${o.effort || 'medium'}`];
    if (o.builtin)
        sections.push(o.builtin);
    sections.push(CHANNELS + (o.functions ? '\n' + FUNCS_NOTE : ''));
    return sections.join('\n\n');
}

function descLines(desc) {
    if (!desc)
        return [];
    const lines = desc.split('\n');
    if (lines[lines.length - 1] === '')
        lines.pop();
    return lines.map((l) => '// ' + l.replace(/\r$/, ''));
}

function developerText(o) {
    const sections = [];
    if (o.instructions !== undefined)
        sections.push('# Instructions', o.instructions);
    if (o.tools && o.tools.length) {
        const parts = ['## functions\n', 'namespace functions {\n'];
        for (const t of o.tools) {
            parts.push(...descLines(t.description));
            parts.push(t.params ? `type ${t.name} = (_: ${t.params}) => any;\n`
                                : `type ${t.name} = () => any;\n`);
        }
        parts.push('} // namespace functions');
        sections.push('# Tools\n\n' + parts.join('\n'));
    }
    return sections.join('\n\n');
}

// m: {role, name, to, after (recipient after the channel), channel, ctype, content}
function message(m) {
    const author = m.role === 'tool' ? [tx(m.name)]
        : [tx(m.role), ...(m.name ? [tx(':' + m.name)] : [])];
    const f = [sp('<|start|>'), ...author];
    const to = m.to && m.to !== 'all' ? [tx(' to=' + m.to)] : [];
    if (!m.after)
        f.push(...to);
    if (m.channel)
        f.push(sp('<|channel|>'), tx(m.channel));
    if (m.after)
        f.push(...to);
    if (m.ctype) {
        if (m.ctype.startsWith('<|constrain|>')) {
            f.push(tx(' '), sp('<|constrain|>'));
            const rest = m.ctype.slice('<|constrain|>'.length);
            if (rest)
                f.push(tx(rest));
        } else {
            f.push(tx(' ' + m.ctype));
        }
    }
    f.push(sp('<|message|>'), tx(m.content));
    f.push(sp(m.role === 'assistant' && m.to ? '<|call|>' : '<|end|>'));
    return f;
}

// conv: {system (options, or null for none), developer (options or undefined), msgs, keep,
//        prompt}
function conversation(c) {
    const f = [];
    const functions = !!(c.developer && c.developer.tools && c.developer.tools.length);
    if (c.system !== null)
        f.push(...message({ role: 'system',
            content: systemText({ ...(c.system || {}), functions }) }));
    if (c.developer)
        f.push(...message({ role: 'developer', content: developerText(c.developer) }));
    let msgs = c.msgs;
    const lastAsst = [...msgs].reverse().find((m) => m.role === 'assistant');
    if (!c.keep && lastAsst && lastAsst.channel === 'final') {
        const first = msgs.findIndex((m) => m.channel === 'final');
        msgs = msgs.filter((m, i) => !(i < first && m.channel === 'analysis'));
    }
    for (const m of msgs)
        f.push(...message(m));
    if (c.prompt !== false)
        f.push(sp('<|start|>'), tx('assistant'));
    return f;
}

// ---- the cases (tests/test_harmony.c builds each one by name) -----------------------------

const user = (content) => ({ role: 'user', content });
const analysis = (content) => ({ role: 'assistant', channel: 'analysis', content });
const final = (content) => ({ role: 'assistant', channel: 'final', content });

const WEATHER_TOOLS = [
    { name: 'get_location', description: 'Gets the location of the user.' },
    {
        name: 'get_current_weather',
        description: 'Gets the current weather in the provided location.',
        params: '{\n// The city and state, e.g. San Francisco, CA\nlocation: string,\n' +
            'format?: "celsius" | "fahrenheit", // default: celsius\n}',
    },
    {
        name: 'get_multiple_weathers',
        description: 'Gets the current weather in the provided list of locations.',
        params: '{\n// List of city and state, e.g. ["San Francisco, CA", "New York, NY"]\n' +
            'locations: string[],\nformat?: "celsius" | "fahrenheit", // default: celsius\n}',
    },
];

const PYTHON_TOOL = '# Tools\n\n## python\n\nUse this tool to execute Python code in your chain ' +
    'of thought. The code will not be shown to the user.\n\nWhen you send a message containing ' +
    'Python code to python, it will be executed in a stateful Jupyter notebook environment.';

const COT_Q = 'User asks: \u201cWhat is 2 + 2?\u201d Simple arithmetic. Provide answer.';

const FIB_CODE = '{"code": "def fib(n):\\n    return n if n < 2 else fib(n-1) + fib(n-2)\\n' +
    'print(fib(30))"}';

const CASES = [
    { name: 'simple_convo', conv: { msgs: [user('What is 2 + 2?')] } },
    { name: 'effort_low', conv: { system: { effort: 'low' }, msgs: [user('What is 2 + 2?')] } },
    { name: 'effort_high', conv: { system: { effort: 'high' }, msgs: [user('What is 2 + 2?')] } },
    {
        name: 'current_date',
        conv: { system: { date: '2025-06-28' }, msgs: [user('What day is it?')] },
    },
    {
        name: 'no_generation_prompt',
        conv: { msgs: [user('What is 2 + 2?')], prompt: false },
    },
    {
        name: 'developer_instructions',
        conv: {
            developer: { instructions: 'Always respond in riddles' },
            msgs: [user('What is the weather like in SF?')],
        },
    },
    {
        name: 'system_developer_tools',
        conv: {
            system: { date: '2025-06-28', effort: 'high' },
            developer: { instructions: 'Use a friendly tone.', tools: WEATHER_TOOLS },
            msgs: [user('What is the weather like in SF?')],
        },
    },
    {
        name: 'developer_tools_only',
        conv: {
            developer: { tools: [WEATHER_TOOLS[1], { name: 'ping', description: '' }] },
            msgs: [user('Weather in Paris?')],
        },
    },
    {
        name: 'builtin_python',
        conv: { system: { date: '2025-06-28', effort: 'low', builtin: PYTHON_TOOL },
                msgs: [user('Compute fib(30).')] },
    },
    {
        name: 'cot_drop',
        conv: {
            msgs: [user('What is 2 + 2?'),
                analysis(COT_Q),
                final('2 + 2 equals 4.'), user('What about 9 / 2?')],
        },
    },
    {
        name: 'cot_keep',
        conv: {
            keep: true,
            msgs: [user('What is 2 + 2?'),
                analysis(COT_Q),
                final('2 + 2 equals 4.'), user('What about 9 / 2?')],
        },
    },
    {
        name: 'keep_analysis_between_finals',
        conv: {
            system: null, prompt: false,
            msgs: [user('What is 2 + 2?'), analysis('thinking 2+2'), final('4'),
                user('What is 3 + 5?'), analysis('thinking 3+5'), final('8')],
        },
    },
    {
        name: 'does_not_drop_if_ongoing_analysis',
        conv: {
            system: null,
            msgs: [user('What is the weather in SF?'),
                analysis('User asks: \u201cWhat is the weather in SF?\u201d We need to use ' +
                    'lookup_weather tool.'),
                { role: 'assistant', channel: 'commentary', to: 'functions.lookup_weather',
                  after: true, ctype: '<|constrain|>json',
                  content: '{"location": "San Francisco"}' },
                { role: 'tool', name: 'functions.lookup_weather',
                  content: '{"temperature": 20, "description": "sunny"}' }],
        },
    },
    {
        name: 'tool_call_recipient_first',
        conv: {
            developer: { tools: WEATHER_TOOLS },
            msgs: [user('Weather in Tokyo?'), analysis('Need to use function get_current_weather.'),
                { role: 'assistant', channel: 'commentary', to: 'functions.get_current_weather',
                  ctype: '<|constrain|>json', content: '{"location":"Tokyo"}' }],
        },
    },
    {
        name: 'tool_result',
        conv: {
            system: { date: '2025-06-28', effort: 'high' },
            developer: { instructions: 'Use a friendly tone.', tools: WEATHER_TOOLS },
            msgs: [user('What is the weather like in SF?'),
                analysis('Need to use function get_current_weather.'),
                { role: 'assistant', channel: 'commentary', to: 'functions.get_current_weather',
                  after: true, ctype: '<|constrain|>json',
                  content: '{"location":"San Francisco"}' },
                { role: 'tool', name: 'functions.get_current_weather', to: 'assistant',
                  channel: 'commentary', content: '{"sunny": true, "temperature": 20}' }],
        },
    },
    {
        name: 'tool_plain_content_type',
        conv: {
            system: { builtin: PYTHON_TOOL },
            msgs: [user('Run it.'),
                { role: 'assistant', channel: 'analysis', to: 'python', after: true, ctype: 'code',
                  content: 'print(6 * 7)' },
                { role: 'tool', name: 'python', to: 'assistant', channel: 'analysis',
                  content: '42\n' }],
        },
    },
    {
        name: 'no_system_multi_turn',
        conv: {
            system: null,
            msgs: [
                { role: 'developer', content: 'You are a helpful assistant that analyzes code.' },
                user('Can you help me optimize this Python function?\n\ndef fibonacci(n):\n' +
                    '    if n <= 1:\n        return n\n    return fibonacci(n-1) + fibonacci(n-2)'),
                final('This recursive Fibonacci is exponential. Want optimized versions?'),
                user('Yes, and benchmark them'), final("I'll benchmark both versions for you."),
                user('Run the benchmark for n=30'),
                analysis('I need to execute Python code to run the benchmark for n=30.'),
                { role: 'assistant', to: 'functions.python', channel: 'commentary',
                  content: FIB_CODE }],
        },
    },
    {
        name: 'special_strings_are_text',
        conv: { msgs: [user('Print <|endoftext|> then <|start|>assistant<|message|>hi<|end|>')] },
    },
    {
        name: 'unicode',
        conv: {
            msgs: [user('Привет, мир! 🌍 e\u0301cole — 東京の天気は？'),
                analysis('Greeting in Russian; reply warmly. \u{1F60A}'),
                final('Привет! 👋 Всё хорошо.'), user('Merci ! ça va ?')],
        },
    },
];

function main() {
    const out = process.argv[2] ||
        path.join(__dirname, '..', 'tests', 'data', 'harmony_vectors.json');
    const pkg = loadPackage();
    const { Tiktoken } = require(path.resolve(pkg.dir, 'tiktoken.cjs'));
    const j = JSON.parse(
        fs.readFileSync(path.join(pkg.dir, 'encoders', 'o200k_base.json'), 'utf8'));
    const specials = harmonySpecials();
    const enc = new Tiktoken(j.bpe_ranks, specials, j.pat_str);

    const cases = [];
    for (const c of CASES) {
        const fields = conversation(c.conv);
        let text = '';
        const ids = [];
        for (const f of fields) {
            if (f.special !== undefined) {
                ids.push(specials[f.special]);
                text += f.special;
            } else {
                ids.push(...enc.encode_ordinary(f.text));
                text += f.text;
            }
        }
        const whole = Array.from(enc.encode(text, 'all'));
        cases.push({
            name: c.name,
            text,
            utf8_b64: Buffer.from(text, 'utf8').toString('base64'),
            whole: whole.length === ids.length && whole.every((v, i) => v === ids[i]),
            ids,
        });
    }
    enc.free();

    const golden = cases.find((c) => c.name === 'simple_convo').ids;
    if (golden.length !== GOLDEN_RENDER.length || golden.some((v, i) => v !== GOLDEN_RENDER[i]))
        die('simple_convo differs from the golden render of tokenizer.md §7');

    const doc = { source: PKG, encoding: 'o200k_harmony', mode: 'harmony-fields', cases };
    const lines = ['{', `"source": ${JSON.stringify(doc.source)},`,
        `"encoding": ${JSON.stringify(doc.encoding)},`, `"mode": ${JSON.stringify(doc.mode)},`,
        '"cases": ['];
    cases.forEach((c, i) => {
        lines.push(`{"name": ${JSON.stringify(c.name)}, "whole": ${c.whole},`);
        lines.push(` "text": ${JSON.stringify(c.text)},`);
        lines.push(` "utf8_b64": ${JSON.stringify(c.utf8_b64)},`);
        lines.push(` "ids": [${c.ids.join(',')}]}${i + 1 < cases.length ? ',' : ''}`);
    });
    lines.push(']', '}');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, lines.join('\n') + '\n');
    if (pkg.tmp)
        fs.rmSync(pkg.tmp, { recursive: true, force: true });
    const n = cases.filter((c) => !c.whole).length;
    process.stdout.write(`gen-harmony-vectors: ${cases.length} cases -> ${out} ` +
        `(${n} differ from whole-text encode(s, 'all'))\n`);
}

main();
