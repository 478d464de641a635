// RAKE splits candidate phrases at these words, so the list is broader than a typical stop list:
// besides function words it holds vague verbs and adverbs that rarely belong inside a key phrase.
export const STOP_WORDS: ReadonlySet<string> = new Set(
  `a about above across after afterwards again against all almost alone along already also although always am among
amongst an and another any anyhow anyone anything anyway anywhere are aren't around as at be became because become
becomes becoming been before beforehand behind being below beside besides between beyond both but by can can't
cannot could couldn't did didn't do does doesn't doing don't done down due during each either else elsewhere
enough etc even ever every everyone everything everywhere except few for former formerly from further get gets
getting given gives go goes going got had hadn't has hasn't have haven't having he he'd he'll he's hence her here
here's hereafter hereby herein hers herself him himself his how how's however i i'd i'll i'm i've ie if in indeed
instead into is isn't it it's its itself just keep kept last latter least less let's like made make makes making
many may maybe me meanwhile might more moreover most mostly much must mustn't my myself namely need needs neither never
nevertheless next no nobody none nor not nothing now nowhere of off often on once one only onto or other others
otherwise ought our ours ourselves out over overall own per perhaps quite rather really said same say says see
seem seemed seems several shall shan't she she'd she'll she's should shouldn't since so some somehow someone
something sometimes somewhere still such than that that's the their theirs them themselves then thence there
there's thereafter thereby therefore therein these they they'd they'll they're they've this those though through
throughout thru thus to together too toward towards under until up upon us use used uses using very via was
wasn't way we we'd we'll we're we've well were weren't what what's whatever when when's whence whenever where
where's whereas whereby wherever whether which while who who's whoever whole whom whose why why's will with
within without won't would wouldn't yet you you'd you'll you're you've your yours yourself yourselves`.split(/\s+/),
);
