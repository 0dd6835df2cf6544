/* The harmony Jinja chat template of the ggml-org gpt-oss GGUFs (tokenizer.chat_template). */
#ifndef FY_CHAT_TEMPLATE_H
#define FY_CHAT_TEMPLATE_H

/* NUL-terminated UTF-8 text, 16738 bytes, identical to llama.cpp's
 * models/templates/openai-gpt-oss-120b.jinja (OpenAI's HF chat_template.jinja). */
const char *fy_chat_template_gpt_oss(void);

#endif
