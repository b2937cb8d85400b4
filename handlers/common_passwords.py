"""Passwords too common to accept: the most frequent ones in public leak studies (international and
Chinese sites), kept to those a guesser tries first. Compared case-insensitively."""

COMMON_PASSWORDS = frozenset("""
123456 123456789 12345678 12345 1234567 1234567890 111111 000000 123123 666666 888888 654321
11111111 88888888 00000000 12341234 11223344 123321 112233 121212 147258369 987654321 1314520
5201314 123qwe 1q2w3e 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qazxsw2 2wsx3edc qazwsx qazwsxedc zaq12wsx
zxcvbnm zxcvbnm123 zxc123456 zxcv1234 asdfghjkl asdf1234 asd123456 qwerty qwerty123 qwerty1
qwertyuiop qweasd qweasdzxc qwe123 qwe12345 qwe123456 qwer1234 q1w2e3r4 a1b2c3d4 a1234567
a12345678 a123456789 a123456 aa123456 aa12345678 abc123 abc1234 abc12345 abc123456 abcd1234
abcd12345 abcd123456 abc123abc abcdefg abcdefgh abcdefg123 password password1 password12
password123 passw0rd p@ssw0rd p@ssword pass1234 pass123456 admin admin123 admin1234 admin12345
admin888 administrator root123 root1234 test1234 test123456 guest123 user1234 welcome welcome1
welcome123 letmein letmein123 iloveyou iloveyou1 woaini woaini1314 woaini520 woaini123
woaini521 5201314a 1314woaini aini1314 qq123456 qq5201314 qq111111 qq666666 wang123456
zhang123 li123456 liu123456 chen123456 yang123456 huang123 zhao123456 wangwei123 zhangwei123
china123 china2008 beijing2008 beijing123 shanghai123 kunming123 yunnan123 baidu123 taobao123
sunshine sunshine1 princess football football1 baseball monkey123 dragon123 master123 shadow123
superman batman123 michael1 charlie1 jordan23 trustno1 starwars whatever freedom1 computer
computer1 internet1 hello123 hello1234 hellokitty love1234 lovely123 iloveu123 abcabc123
aaa111 aaa123456 aaaa1111 a11111111 a000000 a888888 a666666 a5201314 z123456 z12345678
w123456 w12345678 q123456 q12345678 s123456 x123456 asdasd123 asdqwe123 qazqaz123 zxczxc123
123456aa 123456abc 123456a 12345678a 123456789a 123456qq 12345qwert 123abc 123abc456 1234abcd
12345abc 123456qwe 123qweasd 123qweasdzxc 147258 159357 159753 741852963 963852741 7758521
7758258 5211314 520520 1234qwer 12qwaszx 1qaz2wsx3edc qwert12345 asdfgh123 zxcvb12345
demo1234 changeme changeme1 default1 secret123 system123 manager1 gaoxiao123 jianshe123
""".split())
