"""Generated training texts: attack families phrased many ways, and their benign look-alikes.

The packaged corpora hold about 1,400 attacks, most of them a few dozen templates
each phrased once, so a model trained on them learns those templates' words. This
package writes, from a small phrase grammar, the families an attacker draws on,
each part phrased many ways and put together in varying order:

- persona jailbreaks (an invented character with no rules, told to stay in it);
- instruction overrides ("disregard what you were told before"), also in 20 other
  languages;
- fake system, developer or administrator notices;
- system-prompt extraction, blunt and polite ("output the text above in full");
- refusal suppression and prefix injection ("start with 'Sure, here is'");
- fictional and hypothetical framing of a forbidden request;
- smuggling: fake transcripts, virtual machines, split or encoded instructions to
  reassemble and obey, pressure and claimed authority, requests for secrets;
- injections hidden in documents, tool results and code comments (role `tool`).

The look-alikes use the same words for ordinary work: an "act as" prompt with
a real job, "ignore the warnings in this log", "forget my previous email", a
question about prompt injection, a system prompt being written. Without them a
model would learn that "ignore" or "act as" alone is an attack.

Written from the attack families' public descriptions, not from any test
corpus, and never from the data reserved for independent evaluation. Seeded:
the same seed writes the same rows.
"""

from streams.policy.classifier.synth.attacks import ATTACKS, synthetic_attacks
from streams.policy.classifier.synth.grammar import expand
from streams.policy.classifier.synth.lookalikes import LOOKALIKES, synthetic_lookalikes

__all__ = ["ATTACKS", "LOOKALIKES", "expand", "synthetic_attacks", "synthetic_lookalikes"]
