/** Every phrase rule, all languages plus the structural (chat-template) rules and the intent rules. */
import type { Rule } from '../rules.js';
import { DE_RULES } from './de.js';
import { EN_RULES } from './en.js';
import { ES_RULES } from './es.js';
import { FR_RULES } from './fr.js';
import { INTENT_RULES } from './intent.js';
import { IT_RULES } from './it.js';
import { JA_RULES } from './ja.js';
import { PT_RULES } from './pt.js';
import { RU_RULES } from './ru.js';
import { STRUCTURAL_RULES } from './structural.js';
import { ZH_RULES } from './zh.js';

export const ALL_RULES: readonly Rule[] = [
  ...STRUCTURAL_RULES,
  ...EN_RULES,
  ...ES_RULES,
  ...FR_RULES,
  ...DE_RULES,
  ...PT_RULES,
  ...IT_RULES,
  ...ZH_RULES,
  ...RU_RULES,
  ...JA_RULES,
  ...INTENT_RULES,
];
